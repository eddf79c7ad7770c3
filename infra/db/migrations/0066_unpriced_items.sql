-- 0066 a catalog for any region (issue 14): items without a price, and why.
--
-- Only eu-west-3's prices ship. Every other region gets the shipped list of *items* (service,
-- item, variant, unit) and is priced by the AWS Price List API; an item the API does not
-- price with exactly one on-demand SKU stays in the catalog without a price and with the
-- reason (no SKU, several SKUs, not refreshed yet). Estimates and plan previews treat such an
-- item as unpriced and name the reason, instead of guessing a price.
ALTER TABLE costs.prices ALTER COLUMN usd DROP NOT NULL;
ALTER TABLE costs.prices ADD COLUMN unpriced_reason text;
ALTER TABLE costs.prices ADD CONSTRAINT prices_priced_or_reason
    CHECK ((usd IS NULL) = (unpriced_reason IS NOT NULL));
COMMENT ON COLUMN costs.prices.usd IS
    'On-demand USD per unit; null when the item has no price in this region (see unpriced_reason)';
COMMENT ON COLUMN costs.prices.unpriced_reason IS
    'Why the item has no price (e.g. 2 SKUs match the Price List filters); null when priced';

-- The view keeps its columns and adds the reason last (CREATE OR REPLACE may only append).
CREATE OR REPLACE VIEW reporting.price_catalog AS
SELECT region, service, item, variant, unit, usd, source, effective_date, updated_at,
       unpriced_reason
  FROM costs.prices;
COMMENT ON VIEW reporting.price_catalog IS
    'On-demand prices per region/service/item, with their source and effective date; '
    'usd is null and unpriced_reason says why for an item the Price List did not price';
