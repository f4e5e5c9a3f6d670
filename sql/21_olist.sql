-- Acceptance on real data: the Olist marketing funnel (public data set,
-- ../shared/data/olist-marketing-funnel, see its README): 8,000 marketing
-- qualified leads who asked to be contacted (June 2017 - May 2018) and the
-- 842 whose deal was won.  The data set lives beside the repository, not in
-- it; without it this test only says so (expected/21_olist_1.out).
--
-- Mapping: a lead per MQL (external_id = mql_id, channel = origin, empty
-- origin = NULL, created_at = first_contact_date at midnight UTC), moved to
-- mql by hand (Olist qualified them); a won deal per closed deal (closed_at
-- = won_date, amount = declared_monthly_revenue, 0 where none was declared:
-- most sellers declared none, so revenue is mostly 0 and very skewed --
-- real data, kept as it is).
--
-- Every number below was also computed straight from the CSV files with an
-- independent Python script (counts per origin, cycle days per origin with
-- linear-interpolated percentiles, LTV mean and median).
SET client_min_messages = warning;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
DROP EXTENSION lead_mgmt;
CREATE EXTENSION lead_mgmt;
\set SHOW_CONTEXT never
\set have_olist `test -r ../shared/data/olist-marketing-funnel/mql.csv && test -r ../shared/data/olist-marketing-funnel/deals.csv && echo true || echo false`
\if :have_olist

CREATE TEMP TABLE olist_mql (mql_id text, first_contact_date text, landing_page_id text, origin text);
\copy olist_mql FROM '../shared/data/olist-marketing-funnel/mql.csv' WITH (FORMAT csv, HEADER true)
CREATE TEMP TABLE olist_deals (mql_id text, seller_id text, sdr_id text, sr_id text, won_date text,
    business_segment text, lead_type text, lead_behaviour_profile text, has_company text,
    has_gtin text, average_stock text, business_type text, declared_product_catalog_size text,
    declared_monthly_revenue text);
\copy olist_deals FROM '../shared/data/olist-marketing-funnel/deals.csv' WITH (FORMAT csv, HEADER true)
SELECT (SELECT count(*) FROM olist_mql) AS mqls, (SELECT count(*) FROM olist_deals) AS won_deals;

INSERT INTO lead_mgmt.leads (external_id, channel, attributes, created_at)
SELECT m.mql_id, NULLIF(m.origin, ''),
       jsonb_build_object('landing_page_id', m.landing_page_id),
       to_date(m.first_contact_date, 'DD-MM-YYYY')::timestamptz
  FROM olist_mql m ORDER BY m.mql_id;
SELECT count(lead_mgmt.set_stage(l.id, 'mql', 'Olist MQL')) AS moved_to_mql
  FROM lead_mgmt.leads l;
INSERT INTO lead_mgmt.deals (lead_id, amount, status, created_at, closed_at)
SELECT l.id, COALESCE(NULLIF(d.declared_monthly_revenue, '')::numeric, 0), 'won',
       l.created_at, to_timestamp(d.won_date, 'DD-MM-YYYY HH24:MI')
  FROM olist_deals d JOIN lead_mgmt.leads l ON l.external_id = d.mql_id
 ORDER BY d.mql_id;

-- 8,000 leads, all mql; the 842 won are customers (and so count as sql).
--   conversion 842 / 8000 = 10.525 -> 10.53; no campaigns, no visitors:
--   opt-in NULL
SELECT * FROM lead_mgmt.funnel_summary;
SELECT * FROM lead_mgmt.stage_counts;

-- by origin (Python: direct_traffic 499/56, display 118/6, email 493/15,
-- organic_search 2296/271, other 150/4, other_publicities 65/3,
-- paid_search 1586/195, referral 284/24, social 1350/75, unknown 1099/179,
-- none 60/14)
SELECT group_value AS origin, leads, customers, sales_conversion_rate
  FROM lead_mgmt.funnel(NULL, NULL, 'channel');

-- by month of first contact, all origins (funnel_by_month summed over
-- channels), then one origin: conversion climbs from under 1% to ~14% in 2018
SELECT month, sum(leads) AS leads, sum(customers) AS customers,
       round(sum(customers) * 100.0 / sum(leads), 2) AS sales_conversion_rate
  FROM lead_mgmt.funnel_by_month GROUP BY month ORDER BY month;
SELECT month, leads, customers, sales_conversion_rate
  FROM lead_mgmt.funnel_by_month WHERE channel = 'organic_search';
-- 2018 H1 through funnel(): 1141 + 1028 + 1174 + 1352 + 1303 = 5998 leads,
-- 152 + 149 + 167 + 183 + 130 = 781 won -> 13.02
SELECT group_value, leads, customers, sales_conversion_rate
  FROM lead_mgmt.funnel('2018-01-01', '2018-07-01');

-- sales by month of won_date, December 2017 to November 2018; revenue is
-- only declared from August 2018, so growth is NULL until then (against 0)
SELECT * FROM lead_mgmt.sales_by_month;

-- LTV: 842 customers, one deal each; mean 61,784,006 / 842 = 73,377.68;
-- median 0 (797 declared nothing)
SELECT * FROM lead_mgmt.ltv_summary;

-- sales cycle, first contact to won, in days (Python, all: 842 customers,
-- mean 49.10, median 14.65, p90 162.59; PostgreSQL rounds half away from
-- zero: email's median 21.125 is 21.13).  One deal was won before its
-- lead's first contact (-1.18 days): real data, counted as it is.
SELECT * FROM lead_mgmt.sales_cycle;
SELECT count(*) AS won_before_first_contact FROM lead_mgmt.leads WHERE converted_at < created_at;

\else
\echo olist data set not found beside the repository: nothing to check
\endif
