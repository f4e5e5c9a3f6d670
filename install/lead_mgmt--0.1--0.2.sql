-- lead_mgmt 0.1 -> 0.2 (ALTER EXTENSION lead_mgmt UPDATE TO '0.2')
--
-- Brings a 0.1 installation to exactly what CREATE EXTENSION lead_mgmt
-- VERSION '0.2' installs from install/parts/: every object below is
-- created with the same text as there (test/t/060_upgrade.pl compares the
-- upgraded schema with a fresh one, object by object, and checks data and
-- behaviour across the update).  Changes of 0.2 appended by anyone go at
-- the end, in a section of their own, and the same change goes into
-- install/parts/.  Once 0.2 is released this file is never edited again.
--
-- Rules of this script, as of the install parts (CVE-2018-1058 class
-- hardening): every built-in is schema-qualified, every function pins
-- search_path, new functions are not executable by PUBLIC, trigger
-- functions are SECURITY DEFINER.

\echo Use "ALTER EXTENSION lead_mgmt UPDATE" to load this file. \quit

