"""Side-by-side benchmarks: `make bench` runs them all and rewrites docs/benchmarks.md."""
