"""Costs: Cost Explorer, hourly estimates, budgets with forecast, recommendations, prices.

Cost Explorer's daily costs, estimates for the hours it has not covered yet, budgets with a
month-end forecast, idle recommendations, and the Price List API refresh of the catalog.
"""
