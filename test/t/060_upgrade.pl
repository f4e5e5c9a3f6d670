# TAP test: the upgrade path from the first released version (issue 8,
# item 4).
#
# A released install script is frozen: install/lead_mgmt--0.1.sql is what
# v0.1 installed, byte for byte (its checksum is pinned below), and
# install/lead_mgmt--0.1--0.2.sql brings a 0.1 installation to 0.2.  This
# test creates the extension at VERSION '0.1' with the current shared
# library -- the situation between a package upgrade and ALTER EXTENSION
# UPDATE, which also proves that the library still serves every C symbol
# 0.1 declares (CREATE FUNCTION ... LANGUAGE c looks each one up) -- loads
# realistic data through the pipeline (custom event type and rules, a
# moved stage threshold and a new stage, segments, reps and assignment
# rules that assign, nurture sequences with enrolments and touches claimed
# and completed, events, deals, campaigns, a manual stage change, a
# disqualification, grants to every kind of user and rep isolation), runs
# ALTER EXTENSION lead_mgmt UPDATE and checks:
#
#  * the version is 0.2, the control file's default, and
#    pg_extension_update_paths() lists 0.1 -> 0.2;
#  * every table of the schema holds what it held before (rows, md5), and
#    every sequence is where it was; the table new in 0.2, rechecks, has
#    an entry for every lead with a recheck_at, and maintenance finds the
#    leads due through it;
#  * the upgraded schema is the schema of a fresh 0.2 install.  A plain
#    pg_dump writes an extension as one CREATE EXTENSION line; with
#    --binary-upgrade it writes out every member object: tables with their
#    columns in order, types, defaults, constraints, indexes, triggers and
#    their enabled state, functions with their settings (proconfig) and
#    SECURITY DEFINER, views, row-level security and policies, comments,
#    grants and initial privileges.  Those dumps (--schema-only) must be
#    equal once the lines that carry OIDs, xids and LSNs are dropped; the
#    pg_extension_config_dump registrations are compared as a set (their
#    order is the order they were made in).  Pairs compared: 0.1 updated
#    at once vs a fresh install; the loaded database vs a fresh install
#    given the same grants and rep isolation; the loaded database after
#    DROP and CREATE EXTENSION vs a fresh install.  A probe database shows
#    that the comparison notices a changed function or default;
#  * behaviour after the update: a new event scores, moves the stage and
#    assigns; a rule edit rescores every lead retroactively; every lead's
#    maintained state equals lead_mgmt.rescore() from scratch and segment
#    membership a rebuild; the 0.2 guards hold;
#  * a dump of the 0.1 database restores into 0.2 (every table as it was;
#    rescore() then fills rechecks and the first sales touches);
#  * DROP EXTENSION, then CREATE EXTENSION, works.
#
# Column order is part of the compared schema (SELECT *, INSERT without a
# column list, COPY): a column that an upgrade script adds comes last in
# an upgraded table, so the install parts must add it at the end of its
# CREATE TABLE too.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Digest::SHA qw(sha256_hex);
use IPC::Run;
use Test::More;

my $from = '0.1';
my $to   = '0.2';
# sha256 of install/lead_mgmt--0.1.sql as v0.1 built it: never changes
my $frozen_sha256 =
  'b9304b8e8d4330779d2e4906d975df8ba623f93b05afee30154debe6800234ca';

my $srcdir    = $ENV{LM_SRCDIR} // '.';
my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
my $sharedir  = `$pg_config --sharedir`;
chomp $sharedir;

# ------------------------------------------------------------ the released script
is(sha256_hex(slurp_file("$srcdir/install/lead_mgmt--$from.sql")),
	$frozen_sha256, "install/lead_mgmt--$from.sql is the released $from script, unchanged");
is(sha256_hex(slurp_file("$sharedir/extension/lead_mgmt--$from.sql")),
	$frozen_sha256, "the installed lead_mgmt--$from.sql is that script");

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;

is( $node->safe_psql(
		'postgres', q{SELECT default_version FROM pg_available_extensions WHERE name = 'lead_mgmt'}),
	$to, "the default version is $to");
is( $node->safe_psql(
		'postgres', qq{SELECT path FROM pg_extension_update_paths('lead_mgmt')
		                WHERE source = '$from' AND target = '$to'}),
	"$from--$to", "pg_extension_update_paths() lists $from -> $to");

# ------------------------------------------------------------ helpers
sub create_at
{
	my ($db, $version) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db,
		'CREATE EXTENSION lead_mgmt' . (defined $version ? " VERSION '$version'" : ''));
}

sub version_of
{
	my ($db) = @_;
	return $node->safe_psql($db,
		q{SELECT extversion FROM pg_extension WHERE extname = 'lead_mgmt'});
}

sub update
{
	my ($db) = @_;
	my ($ret, $stdout, $stderr) =
	  $node->psql($db, 'ALTER EXTENSION lead_mgmt UPDATE');
	is($ret, 0, "$db: ALTER EXTENSION lead_mgmt UPDATE") or diag($stderr);
	is(version_of($db), $to, "$db: the extension is at $to");
}

# The schema of a database as pg_dump --schema-only --binary-upgrade
# writes it, without what differs between equal schemas: OIDs, relfilenodes
# and LSNs (binary_upgrade_set_next_*), frozen xids, the missing values of
# columns added to tables that had rows (physical, not schema), where the
# sequences stand (data: compared with the tables), pg_dump's random
# \restrict key, and the OIDs of the configuration tables in the extension
# line (compared by name in config_dump_of).
sub schema_of
{
	my ($db) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[
			'pg_dump', '--schema-only', '--binary-upgrade',
			'-h', $node->host, '-p', $node->port, '-d', $db
		],
		'>', \$out, '2>', \$err)
	  or die "pg_dump --binary-upgrade $db failed: $err";
	my @lines;
	for (split /\n/, $out)
	{
		next if /^\\(un)?restrict /;
		next if /binary_upgrade_set_next_|binary_upgrade_set_missing_value/;
		next if /^SELECT pg_catalog\.setval\(/;
		s/relfrozenxid = '\d+', relminmxid = '\d+'/relfrozenxid = X, relminmxid = X/;
		s/^WHERE oid = '\d+';/WHERE oid = X;/;
		s/^(SELECT pg_catalog\.binary_upgrade_create_empty_extension\('lead_mgmt', .*?, )'\{[\d,]*\}'/$1'{OIDS}'/;
		push @lines, $_;
	}
	return join("\n", @lines) . "\n";
}

# what pg_dump is told to dump of the extension, by name
sub config_dump_of
{
	my ($db) = @_;
	return $node->safe_psql(
		$db, q{
SELECT string_agg(c.oid::regclass::text || coalesce(' WHERE ' || nullif(u.cond, ''), ''),
                  ', ' ORDER BY c.oid::regclass::text COLLATE "C")
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u (relid, cond)
  JOIN pg_class c ON c.oid = u.relid
 WHERE e.extname = 'lead_mgmt'});
}

my $n_dump = 0;
sub same_schema
{
	my ($db, $ref, $what) = @_;
	my $got  = schema_of($db);
	my $want = schema_of($ref);
	$n_dump++;
	my ($fgot, $fwant) = map { $node->basedir . "/schema_$n_dump.$_.sql" } ($db, $ref);
	open(my $fh, '>', $fgot) or die "cannot write $fgot: $!";
	print $fh $got;
	close $fh;
	open($fh, '>', $fwant) or die "cannot write $fwant: $!";
	print $fh $want;
	close $fh;
	my $same = ok($got eq $want, "$what: same schema as $ref (pg_dump --binary-upgrade)");
	if (!$same)
	{
		# the first differences, fresh (-) against upgraded (+)
		my ($d, $e) = ('', '');
		IPC::Run::run([ 'diff', '-u', $fwant, $fgot ], '>', \$d, '2>', \$e);
		my @d = split /\n/, $d;
		splice(@d, 120) if @d > 120;
		diag(join("\n", @d));
	}
	is(config_dump_of($db), config_dump_of($ref),
		"$what: the same tables and sequences registered for pg_dump as in $ref");
	return $same;
}

# Columns that a version adds to an existing table, and what they must
# hold right after the update: table contents compare the columns the old
# version had, and each added column is checked on its own.
my %added_columns = (
	assignments    => ['first_touch_at'],
	leads          => ['stage_ceiling'],
	rotation_state => ['rr_order']);

# every table of the schema: rows and md5 of their text, ordered (without
# the columns added since the old version)
sub table_contents
{
	my ($db) = @_;
	my %c;
	for my $t (split / /, $node->safe_psql($db,
			q{SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'lead_mgmt'}))
	{
		my $skip = join(',', map { "'$_'" } @{ $added_columns{$t} // [] }) || "''";
		my $cols = $node->safe_psql($db,
			"SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
			  WHERE attrelid = 'lead_mgmt.$t'::regclass AND attnum > 0 AND NOT attisdropped
			    AND attname NOT IN ($skip)");
		$c{$t} = $node->safe_psql($db,
			"SELECT count(*) || ' ' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), 'empty')
			   FROM (SELECT $cols FROM lead_mgmt.$t) r"
		);
	}
	return \%c;
}

# assignments.first_touch_at (0.2) equals its definition, read off the events
my $first_touch_wrong = q{
SELECT count(*) FROM lead_mgmt.assignments
 WHERE first_touch_at IS DISTINCT FROM lead_mgmt._first_touch(lead_id, rep_id, assigned_at)};

# leads with a recheck_at but no rechecks entry at or before it (0.2):
# maintenance would never find them
my $rechecks_missing = q{
SELECT count(*) FROM lead_mgmt.leads l
 WHERE l.recheck_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM lead_mgmt.rechecks r
                    WHERE r.lead_id = l.id AND r.due_at <= l.recheck_at)};

my $seq_state = q{
SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'unused'), ' ' ORDER BY sequencename)
  FROM pg_sequences WHERE schemaname = 'lead_mgmt'};

# what the triggers maintain equals a rescore from scratch (as in
# 010_dump_restore.pl and 050_crash_safety.pl)
sub differences_from_rescore
{
	my ($db) = @_;
	return $node->safe_psql(
		$db, q{
SET client_min_messages = warning;
CREATE TEMP TABLE maintained AS
SELECT id, score, engagement_score, fit_score, stage, event_counts, recheck_at,
       last_event_at, converted_at, rules_version, segment_ids, sequence_ids, owner_id
  FROM lead_mgmt.leads;
SELECT lead_mgmt.rescore() > 0;
SELECT count(*) FROM (
    (SELECT * FROM maintained
     EXCEPT
     SELECT id, score, engagement_score, fit_score, stage, event_counts, recheck_at,
            last_event_at, converted_at, rules_version, segment_ids, sequence_ids, owner_id
       FROM lead_mgmt.leads)
    UNION ALL
    (SELECT id, score, engagement_score, fit_score, stage, event_counts, recheck_at,
            last_event_at, converted_at, rules_version, segment_ids, sequence_ids, owner_id
       FROM lead_mgmt.leads
     EXCEPT
     SELECT * FROM maintained)) d;
});
}

# grants to every kind of user, and rep isolation: the same in the loaded
# database (at 0.1) and in its fresh reference (at 0.2)
$node->safe_psql(
	'postgres', q{
CREATE ROLE lm_up_writer;
CREATE ROLE lm_up_analyst;
CREATE ROLE lm_up_admin;
CREATE ROLE lm_up_rep;
});
my $access = q{
SET client_min_messages = warning;
SELECT lead_mgmt.grant_writer('lm_up_writer');
SELECT lead_mgmt.grant_analyst('lm_up_analyst');
SELECT lead_mgmt.grant_admin('lm_up_admin');
SELECT lead_mgmt.grant_writer('lm_up_rep', touch_queue => false);
SELECT lead_mgmt.grant_analyst('lm_up_rep');
SELECT lead_mgmt.enable_rep_isolation();
};

# ------------------------------------------------------------ the comparison notices differences
create_at('fresh');
is(version_of('fresh'), $to, "fresh: CREATE EXTENSION installs $to");
create_at('probe');
ok(schema_of('probe') eq schema_of('fresh'), 'probe: two fresh installs compare equal');
my $fresh_schema = schema_of('fresh');
like($fresh_schema, qr/CREATE TRIGGER stages_refuse_truncate BEFORE TRUNCATE ON lead_mgmt\.stages/,
	'the compared dump holds the triggers');
like($fresh_schema, qr/LANGUAGE plpgsql SECURITY DEFINER\n\s+SET search_path TO 'pg_catalog', 'pg_temp'/,
	'the compared dump holds function settings and SECURITY DEFINER');
like($fresh_schema, qr/binary_upgrade_set_record_init_privs\(true\);\nREVOKE ALL ON FUNCTION lead_mgmt\._refuse_truncate\(\) FROM PUBLIC;/,
	'the compared dump holds initial privileges');
for my $probe (
	[ 'ALTER FUNCTION lead_mgmt._refuse_truncate() SECURITY INVOKER', 'a function run as its caller' ],
	[ 'ALTER FUNCTION lead_mgmt._refuse_truncate() SECURITY DEFINER', undef ],
	[ 'ALTER TABLE lead_mgmt.reps ALTER COLUMN weight SET DEFAULT 2', 'another default' ])
{
	my ($sql, $what) = @$probe;
	$node->safe_psql('probe', $sql);
	if (defined $what)
	{
		ok(schema_of('probe') ne $fresh_schema, "probe: the comparison notices $what");
	}
	else
	{
		ok(schema_of('probe') eq $fresh_schema, 'probe: undone, equal again');
	}
}

# ------------------------------------------------------------ 0.1, updated at once
create_at('bare', $from);
is(version_of('bare'), $from, "bare: CREATE EXTENSION lead_mgmt VERSION '$from'");
cmp_ok(
	$node->safe_psql(
		'bare', q{SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
		           WHERE p.pronamespace = 'lead_mgmt'::regnamespace AND l.lanname = 'c'}),
	'>=', 20,
	"bare: the $from script's C functions were created against the current library");
my $bare_before = table_contents('bare');
update('bare');
my $bare_after = table_contents('bare');
is(delete $bare_after->{rechecks}, '0 empty', 'bare: the update adds lead_mgmt.rechecks, empty');
is_deeply($bare_after, $bare_before, 'bare: every other table unchanged by the update');
same_schema('bare', 'fresh', "bare ($from updated at once)");
is_deeply(table_contents('bare'), table_contents('fresh'),
	'bare: the shipped rows are those of a fresh install');

# ------------------------------------------------------------ 0.1 with data
create_at('loaded', $from);
$node->safe_psql('loaded', $access);

# Times are whole days plus 12 hours before now(): no window or age
# boundary is crossed while this test runs, so a rescore from scratch
# computes from the same situation.
$node->safe_psql(
	'loaded', q{
SET client_min_messages = warning;
SELECT setseed(0.0601);

SELECT lead_mgmt.load_example_rules();
INSERT INTO lead_mgmt.event_types (name, description, category)
VALUES ('webinar_attended', 'attended a webinar', 'web');
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points, max_occurrences)
VALUES ('attended a webinar', 'webinar_attended', 20, 2);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, properties, points)
VALUES ('enterprise pricing', 'pricing_page_visited', '{"plan": "enterprise"}', 5);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points, within)
VALUES ('recent chat', 'chat_started', 4, '10 days');
INSERT INTO lead_mgmt.scoring_rules (name, condition, points)
VALUES ('large company', '{"field": "company_size", "op": ">=", "value": 200}', 10);

UPDATE lead_mgmt.stages SET min_score = 70 WHERE name = 'sql';
INSERT INTO lead_mgmt.stages (name, rank, condition)
VALUES ('trial', 25, '{"event": "trial_started"}');
UPDATE lead_mgmt.settings SET value = '3 days' WHERE name = 'default_sla';

INSERT INTO lead_mgmt.segments (name, description, condition) VALUES
  ('big fintech', 'firmographic',
   '{"all": [{"field": "industry", "op": "=", "value": "fintech"},
             {"field": "company_size", "op": ">=", "value": 100}]}'),
  ('pricing readers', 'behavioural', '{"event": "pricing_page_visited", "min_count": 2}'),
  ('europe', 'geography', '{"field": "country", "op": "in", "value": ["DE", "FR", "GB"]}');
INSERT INTO lead_mgmt.segments (name, condition, active)
VALUES ('inactive one', '{"field": "channel", "op": "=", "value": "paid"}', false);

INSERT INTO lead_mgmt.reps (name, email, regions, industries, seniority, capacity, weight, db_role) VALUES
  ('Rita', 'rita@example.com', '{EMEA}', '{fintech,banking}', 'senior', 40, 2, 'lm_up_rep'),
  ('Sam',  'sam@example.com',  '{AMER}', '{retail}',          'junior', NULL, 1, NULL),
  ('Ola',  'ola@example.com',  '{EMEA,AMER}', '{saas}',       'enterprise', NULL, 3, NULL),
  ('Kim',  'kim@example.com',  '{}', '{}',                    'junior', 5, 1, NULL);
INSERT INTO lead_mgmt.reps (name, email, available) VALUES ('Away', 'away@example.com', false);
INSERT INTO lead_mgmt.assignment_rules (name, priority, condition, method, min_seniority, sla)
VALUES ('fintech to seniors', 1, '{"field": "industry", "op": "in", "value": ["fintech", "banking"]}',
        'weighted', 'senior', '1 day');
INSERT INTO lead_mgmt.assignment_rules (name, priority, method)
VALUES ('everyone else', 10, 'round_robin');

INSERT INTO lead_mgmt.sequences (name, enroll_condition, exit_condition) VALUES
  ('welcome', '{"event": "email_subscribed"}', '{"event": "demo_requested"}'),
  ('pricing follow-up', '{"event": "pricing_page_visited"}', NULL);
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action, channel)
SELECT s.id, g, make_interval(days => g - 1), 'step ' || g, CASE WHEN g = 3 THEN 'phone' ELSE 'email' END
  FROM lead_mgmt.sequences s, generate_series(1, 3) g;

INSERT INTO lead_mgmt.campaigns (code, name, channel, funnel_position, lead_magnet) VALUES
  ('spring', 'Spring launch', 'paid', 'top', 'guide.pdf'),
  ('webinar', 'Monthly webinar', 'organic', 'middle', NULL);
INSERT INTO lead_mgmt.campaign_daily (campaign, day, visitors, spend)
SELECT c, current_date - g, 100 + g * 3, round((20 + g * 1.5)::numeric, 2)
  FROM unnest(ARRAY['spring', 'webinar']) c, generate_series(1, 30) g;

INSERT INTO lead_mgmt.leads (external_id, email, first_name, company, industry,
                             company_size, country, channel, campaign, lead_magnet,
                             attributes, created_at)
SELECT 'ext-' || g, 'lead' || g || '@example.com', 'First' || g, 'Company ' || (g % 29),
       (ARRAY['fintech', 'retail', 'banking', 'saas', NULL])[1 + g % 5],
       (g * 7919) % 500,
       (ARRAY['DE', 'FR', 'US', 'GB'])[1 + g % 4],
       (ARRAY['organic', 'paid', 'referral'])[1 + g % 3],
       CASE WHEN g % 4 = 0 THEN 'spring' WHEN g % 4 = 1 THEN 'webinar' END,
       CASE WHEN g % 6 = 0 THEN 'guide.pdf' END,
       jsonb_build_object('n', g, 'seniority', (ARRAY['junior', 'director', 'vp'])[1 + g % 3]),
       now() - make_interval(days => 1 + g % 60, hours => 12)
  FROM generate_series(1, 160) g;

CREATE TEMP TABLE types AS
SELECT array_agg(name ORDER BY name) AS names FROM lead_mgmt.event_types WHERE name <> 'purchase';
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at, properties)
SELECT l.id, t.names[1 + floor(random() * cardinality(t.names))::int],
       now() - make_interval(days => floor(random() * 45)::int, hours => 12),
       CASE WHEN random() < 0.2 THEN '{"plan": "enterprise"}'::jsonb ELSE '{}'::jsonb END
  FROM generate_series(1, 1600) g,
       LATERAL (SELECT id FROM lead_mgmt.leads ORDER BY random() + g * 0 LIMIT 1) l,
       types t;
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
SELECT id, 'purchase', now() - interval '2 days 12 hours' FROM lead_mgmt.leads WHERE id % 40 = 0;
});

my $manual_lead = $node->safe_psql('loaded',
	q{SELECT min(id) FROM lead_mgmt.leads WHERE stage IN ('lead', 'iql', 'mql')});
my $disq_lead = $node->safe_psql('loaded',
	q{SELECT max(id) FROM lead_mgmt.leads WHERE stage IN ('lead', 'iql', 'mql')});
$node->safe_psql(
	'loaded', qq{
SET client_min_messages = warning;
SELECT lead_mgmt.set_stage($manual_lead, 'sql', 'called by a rep');
SELECT lead_mgmt.disqualify($disq_lead, 'competitor');
INSERT INTO lead_mgmt.deals (lead_id, rep_id, amount, status, created_at, closed_at)
SELECT l.id, (SELECT min(id) FROM lead_mgmt.reps), 1000 + l.id * 10,
       (ARRAY['won', 'lost', 'open'])[1 + l.id % 3],
       now() - interval '20 days 12 hours',
       CASE WHEN l.id % 3 <> 2 THEN now() - interval '5 days 12 hours' END
  FROM lead_mgmt.leads l WHERE l.id % 7 = 1 AND l.id <> $disq_lead;
SELECT lead_mgmt.assign($manual_lead, (SELECT max(id) FROM lead_mgmt.reps WHERE available));
-- owners' first sales touches (0.2 keeps them on the assignment)
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
SELECT lead_id, 'rep_contacted', now() + interval '1 hour'
  FROM lead_mgmt.assignments WHERE ended_at IS NULL AND lead_id % 2 = 0;
CREATE TEMP TABLE claimed AS SELECT * FROM lead_mgmt.claim_touches('sender-1', 6);
SELECT lead_mgmt.complete_touch(touch_id) FROM (SELECT touch_id FROM claimed ORDER BY touch_id LIMIT 1) t;
SELECT lead_mgmt.complete_touch(touch_id, 'bounced') FROM (SELECT touch_id FROM claimed ORDER BY touch_id OFFSET 1 LIMIT 1) t;
});
for my $check (
	[ q{SELECT count(*) FROM lead_mgmt.leads WHERE stage IN ('sql', 'customer')}, 'sales-ready leads and customers' ],
	[ q{SELECT count(*) FROM lead_mgmt.stage_history}, 'stage history' ],
	[ q{SELECT count(*) FROM lead_mgmt.segment_members}, 'segment members' ],
	[ q{SELECT count(*) FROM lead_mgmt.assignments WHERE reason = 'rule'}, 'assignments by rule' ],
	[ q{SELECT count(*) FROM lead_mgmt.assignments WHERE reason = 'manual'}, 'a manual assignment' ],
	[ q{SELECT count(*) FROM lead_mgmt.rotation_state}, 'rotation states' ],
	[ q{SELECT count(*) FROM lead_mgmt.enrollments}, 'enrolments' ],
	[ q{SELECT count(*) FROM lead_mgmt.touches WHERE claimed_at IS NOT NULL AND done_at IS NULL}, 'claimed touches' ],
	[ q{SELECT count(*) FROM lead_mgmt.touches WHERE outcome IN ('sent', 'bounced')}, 'completed touches' ],
	[ q{SELECT count(*) FROM lead_mgmt.deals WHERE status = 'won'}, 'won deals' ],
	[ q{SELECT count(*) FROM lead_mgmt.deals WHERE status = 'lost'}, 'lost deals' ],
	[ q{SELECT count(*) FROM lead_mgmt.deals WHERE status = 'open'}, 'open deals' ],
	[ q{SELECT count(*) FROM lead_mgmt.campaign_daily}, 'campaign days' ],
	[ q{SELECT count(*) FROM lead_mgmt.leads WHERE disqualified_at IS NOT NULL}, 'a disqualified lead' ])
{
	cmp_ok($node->safe_psql('loaded', $check->[0]), '>', 0, "loaded at $from: $check->[1]");
}
is(differences_from_rescore('loaded'), "t\n0",
	"loaded at $from: lead state equals lead_mgmt.rescore() (the current library serves $from)");

# ------------------------------------------------------------ the update
my $dumped = table_contents('loaded');
# a dump of the 0.1 database, restored below into 0.2
my $dumpfile = $node->basedir . '/loaded-0.1.dump';
my ($dump_out, $dump_err) = ('', '');
ok( IPC::Run::run(
		[ 'pg_dump', '-Fc', '-f', $dumpfile, '-h', $node->host, '-p', $node->port, '-d', 'loaded' ],
		'>', \$dump_out, '2>', \$dump_err),
	"loaded: pg_dump at $from") or diag($dump_err);
# a sales-ready lead moved down by hand at $from, after the dump (a $from
# dump restored into 0.2 keeps no ceiling: README, Upgrading)
my $held_lead = $node->safe_psql('loaded',
	q{SELECT min(id) FROM lead_mgmt.leads WHERE stage = 'sql' AND score >= 60});
like($held_lead, qr/^\d+$/, "loaded: a lead in sql on points ($held_lead)");
$node->safe_psql('loaded',
	"SELECT lead_mgmt.set_stage($held_lead, 'mql', 'not yet'); SELECT lead_mgmt.rescore()");
is($node->safe_psql('loaded', "SELECT stage FROM lead_mgmt.leads WHERE id = $held_lead"),
	'sql', "loaded at $from: a move by hand down lasts until the next recompute");
$node->safe_psql('loaded', "SELECT lead_mgmt.set_stage($held_lead, 'mql', 'not yet')");
# and one moved up by hand, then down: its criteria do not reach the stage
# it left, so the update gives it no ceiling
my $up_down_lead = $node->safe_psql('loaded',
	q{SELECT min(id) FROM lead_mgmt.leads WHERE stage = 'iql' AND score < 40 AND disqualified_at IS NULL});
like($up_down_lead, qr/^\d+$/, "loaded: a lead in iql with few points ($up_down_lead)");
$node->safe_psql('loaded',
	"SELECT lead_mgmt.set_stage($up_down_lead, 'sql', 'fast track'); SELECT lead_mgmt.set_stage($up_down_lead, 'iql', 'not after all')");
my $loaded_before = table_contents('loaded');
my $seq_before    = $node->safe_psql('loaded', $seq_state);
cmp_ok(scalar(keys %$loaded_before), '>=', 21, 'every table of lead_mgmt is snapshotted ('
	  . scalar(keys %$loaded_before) . ')');
update('loaded');
my $loaded_after = table_contents('loaded');
for my $t (sort keys %$loaded_before)
{
	is($loaded_after->{$t}, $loaded_before->{$t},
		"loaded: lead_mgmt.$t unchanged by the update (rows, md5)");
}
is(join(' ', sort keys %$loaded_after), join(' ', sort(keys %$loaded_before, 'rechecks')),
	'loaded: the same tables after the update, and rechecks');
cmp_ok($node->safe_psql('loaded', 'SELECT count(recheck_at) FROM lead_mgmt.leads'), '>', 0,
	'loaded: some leads have a recheck_at');
is($node->safe_psql('loaded', $rechecks_missing), '0',
	'loaded: the update entered every lead with a recheck_at in rechecks');
is($node->safe_psql('loaded', $first_touch_wrong), '0',
	'loaded: the update computed every assignment\'s first sales touch');
cmp_ok($node->safe_psql('loaded', 'SELECT count(first_touch_at) FROM lead_mgmt.assignments'), '>', 0,
	'loaded: some assignments have a first sales touch');
is($node->safe_psql('loaded', $seq_state), $seq_before,
	'loaded: every sequence where it was');
is( $node->safe_psql('loaded',
		'SELECT id || \' \' || stage || \' \' || stage_ceiling FROM lead_mgmt.leads WHERE stage_ceiling IS NOT NULL'),
	"$held_lead mql sql",
	'loaded: the update holds the lead moved down by hand back from sql, and no other (not the one moved up and down)');

create_at('fresh_access');
$node->safe_psql('fresh_access', $access);
same_schema('loaded', 'fresh_access',
	'loaded (with data, grants and rep isolation, updated)');

# the dump of the 0.1 database restores into 0.2 (README, Upgrading)
$node->safe_psql('postgres', 'CREATE DATABASE restored');
($dump_out, $dump_err) = ('', '');
{
	local $ENV{PGOPTIONS} = '-c session_replication_role=replica';
	ok( IPC::Run::run(
			[ 'pg_restore', '-h', $node->host, '-p', $node->port, '-d', 'restored', $dumpfile ],
			'>', \$dump_out, '2>', \$dump_err),
		"restored: pg_restore of the $from dump") or diag($dump_err);
}
is(version_of('restored'), $to, "restored: the extension is at $to");
my $restored = table_contents('restored');
is(delete $restored->{rechecks}, '0 empty', "restored: rechecks is empty (a $from dump has none)");
is_deeply($restored, $dumped, "restored: every other table as it was at $from");
is(differences_from_rescore('restored'), "t\n0",
	'restored: lead state equals lead_mgmt.rescore()');
# a 0.1 dump has no first touches: rescore() computes them (README, Upgrading)
$node->safe_psql('restored', 'SELECT lead_mgmt.rescore()');
is($node->safe_psql('restored', $first_touch_wrong), '0',
	'restored: after rescore(), every assignment\'s first sales touch is computed');
is($node->safe_psql('restored', $rechecks_missing), '0',
	'restored: after rescore(), every lead with a recheck_at has its rechecks entry');

# ------------------------------------------------------------ behaviour after the update
# maintenance finds the leads due through the rechecks entries the update
# made (before any rescore, which would rebuild them)
is( $node->safe_psql(
		'loaded', q{
BEGIN;
CREATE TEMP TABLE due AS
SELECT count(*) AS n FROM lead_mgmt.leads WHERE recheck_at <= now() + interval '61 days';
SELECT n > 0, n = (lead_mgmt.run_maintenance(now() + interval '61 days') ->> 'leads_rechecked')::bigint
  FROM due;
ROLLBACK;}), 't|t',
	'loaded: maintenance rechecks every lead due, found through the rechecks the update entered');
is(differences_from_rescore('loaded'), "t\n0",
	'loaded: right after the update, lead state equals lead_mgmt.rescore()');
is( $node->safe_psql('loaded',
		"SELECT lead_mgmt.track($held_lead, 'email_opened') > 0; SELECT stage FROM lead_mgmt.leads WHERE id = $held_lead"),
	"t\nmql", 'loaded: the held lead stays in mql at its next event');
is($node->safe_psql('loaded', 'SELECT lead_mgmt.refresh_segments()'), '0',
	'loaded: segment membership equals a rebuild');

# a new event scores, moves the stage and assigns
my $lead = $node->safe_psql(
	'loaded', q{
SELECT min(l.id) FROM lead_mgmt.leads l
 WHERE l.stage IN ('lead', 'iql') AND l.disqualified_at IS NULL AND l.owner_id IS NULL
   AND NOT EXISTS (SELECT 1 FROM lead_mgmt.events e WHERE e.lead_id = l.id
                    AND e.event_type IN ('consultation_scheduled', 'demo_requested', 'purchase'))});
like($lead, qr/^\d+$/, "loaded: a lead before sql without an owner ($lead)");
my $before = $node->safe_psql('loaded', "SELECT score FROM lead_mgmt.leads WHERE id = $lead");
my $history = $node->safe_psql('loaded',
	"SELECT count(*) FROM lead_mgmt.stage_history WHERE lead_id = $lead");
$node->safe_psql('loaded',
	"SELECT lead_mgmt.track($lead, 'consultation_scheduled', '{}', now(), 'upgrade-test-1')");
is( $node->safe_psql(
		'loaded', "SELECT score - $before || ' ' || stage || ' ' || (owner_id IS NOT NULL)
		            FROM lead_mgmt.leads WHERE id = $lead"),
	'25 sql true',
	'loaded: a consultation scores +25, moves the lead to sql and assigns it');
is( $node->safe_psql(
		'loaded', "SELECT count(*) - $history FROM lead_mgmt.stage_history WHERE lead_id = $lead"),
	'1', 'loaded: the move is one row of stage_history');
is( $node->safe_psql(
		'loaded', "SELECT to_stage || ' ' || reason FROM lead_mgmt.stage_history
		            WHERE lead_id = $lead ORDER BY id DESC LIMIT 1"),
	'sql condition', 'loaded: to sql, by its condition');
is( $node->safe_psql(
		'loaded', "SELECT count(*) FROM lead_mgmt.assignments
		            WHERE lead_id = $lead AND ended_at IS NULL AND reason = 'rule'"),
	'1', 'loaded: by an assignment rule');

# a rule edit rescores retroactively: every lead by 3 points per counted
# pricing page visit
my $expected = $node->safe_psql(
	'loaded', q{
SELECT string_agg(l.id || ':' || (l.score + 3 * coalesce(x.occurrences, 0)), ',' ORDER BY l.id)
  FROM lead_mgmt.leads l
  LEFT JOIN LATERAL (SELECT e.occurrences FROM lead_mgmt.explain_score(l.id) e
                      WHERE e.rule = 'visited the pricing page') x ON true});
my $changed = $node->safe_psql('loaded',
	q{SELECT count(DISTINCT lead_id) FROM lead_mgmt.events WHERE event_type = 'pricing_page_visited'});
cmp_ok($changed, '>', 0, "loaded: $changed leads visited the pricing page");
$node->safe_psql('loaded',
	q{UPDATE lead_mgmt.scoring_rules SET points = 13 WHERE name = 'visited the pricing page'});
is( $node->safe_psql(
		'loaded', q{SELECT string_agg(id || ':' || score, ',' ORDER BY id) FROM lead_mgmt.leads}),
	$expected, 'loaded: a rule edit (+3 points) rescores every lead in its transaction');

is(differences_from_rescore('loaded'), "t\n0",
	'loaded: after new events and a rule edit, lead state equals lead_mgmt.rescore()');
is($node->safe_psql('loaded', 'SELECT lead_mgmt.refresh_segments()'), '0',
	'loaded: segment membership still equals a rebuild');

# the 0.2 guards hold in the upgraded database
my ($ret, $stdout, $stderr) = $node->psql('loaded',
	q{DELETE FROM lead_mgmt.event_types WHERE name = 'webinar_attended'});
like($stderr, qr/event type "webinar_attended" is still in use/,
	'loaded: an event type in use cannot be deleted (0.2)');
($ret, $stdout, $stderr) = $node->psql('loaded', 'TRUNCATE lead_mgmt.stages');
like($stderr, qr/cannot truncate lead_mgmt\.stages/,
	'loaded: TRUNCATE of stages is refused (0.2)');

# ------------------------------------------------------------ drop and create again
($ret, $stdout, $stderr) = $node->psql('loaded', 'DROP EXTENSION lead_mgmt');
is($ret, 0, 'loaded: DROP EXTENSION lead_mgmt') or diag($stderr);
($ret, $stdout, $stderr) = $node->psql('loaded', 'CREATE EXTENSION lead_mgmt');
is($ret, 0, 'loaded: CREATE EXTENSION lead_mgmt again') or diag($stderr);
is(version_of('loaded'), $to, "loaded: created again at $to");
# DROP EXTENSION leaves the schema lead_mgmt behind, with the USAGE the
# grant functions gave on it (README, Security); without those the
# database is a fresh install again
$node->safe_psql('loaded',
	'REVOKE USAGE ON SCHEMA lead_mgmt FROM lm_up_writer, lm_up_analyst, lm_up_admin, lm_up_rep');
same_schema('loaded', 'fresh', 'loaded, dropped and created again');
is_deeply(table_contents('loaded'), table_contents('fresh'),
	'loaded, dropped and created again: only the shipped rows');

$node->stop;

done_testing();
