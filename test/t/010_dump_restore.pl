# TAP test: pg_dump / pg_restore of a database using lead_mgmt.
#
# DESIGN.md section 3: configuration "survives pg_dump/pg_restore exactly".
# A database is loaded through the extension (example rules, a custom rule,
# an edited and a new stage, an edited setting, a custom event type, leads,
# events, a manual stage change and a disqualification), dumped with
# pg_dump -Fc and restored into an empty database the documented way:
# pg_restore with session_replication_role = replica, so that the
# extension's triggers stay quiet and the computed columns are restored
# as dumped (the ENABLE ALWAYS _replace_on_restore triggers make a dumped
# shipped row replace the one CREATE EXTENSION made).
#
# Also loaded: custom segments (with members), reps, assignment rules and
# the assignments they made (leads reaching sql), a manual assignment,
# nurture sequences with steps, enrolments and touches (claimed, and
# completed), campaigns with daily figures, and deals won, lost and open.
#
# Checked: pg_restore succeeds without errors; EVERY table of schema
# lead_mgmt (listed from pg_tables) has the same content in both databases;
# every sequence of the schema has the same state and every identity
# column continues past the restored ids; the restored database behaves
# (tracking scores, its state equals a rescore from scratch, segment
# membership equals a rebuild, round robin continues where it stopped);
# edited shipped rows keep their edits and shipped rows are there exactly
# once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->start;

# ------------------------------------------------------------ source database
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION lead_mgmt');

# Times are whole days plus 12 hours before now(): no window or age boundary
# (30 days, 10 days, ...) is crossed during the few seconds this test runs,
# so a rescore in the restored database computes from the same situation.
$node->safe_psql(
	'src', q{
SET client_min_messages = warning;
SELECT setseed(0.2024);

SELECT lead_mgmt.load_example_rules();

-- a custom event type and configuration edits by a DBA
INSERT INTO lead_mgmt.event_types (name, description, category)
VALUES ('webinar_attended', 'attended a webinar', 'web');

INSERT INTO lead_mgmt.scoring_rules (name, event_type, points, max_occurrences)
VALUES ('attended a webinar', 'webinar_attended', 20, 2);
INSERT INTO lead_mgmt.scoring_rules (name, event_type, points, within)
VALUES ('recent chat', 'chat_started', 4, '10 days');
INSERT INTO lead_mgmt.scoring_rules (name, condition, points)
VALUES ('large company', '{"field": "company_size", "op": ">=", "value": 200}', 10);

UPDATE lead_mgmt.stages SET min_score = 70 WHERE name = 'sql';
INSERT INTO lead_mgmt.stages (name, rank, condition)
VALUES ('trial', 25, '{"event": "trial_started"}');

UPDATE lead_mgmt.settings SET value = '3 days' WHERE name = 'default_sla';

-- segments
INSERT INTO lead_mgmt.segments (name, description, condition) VALUES
  ('big fintech', 'firmographic',
   '{"all": [{"field": "industry", "op": "=", "value": "fintech"},
             {"field": "company_size", "op": ">=", "value": 100}]}'),
  ('pricing readers', 'behavioural', '{"event": "pricing_page_visited", "min_count": 2}'),
  ('europe', 'geography', '{"field": "country", "op": "in", "value": ["DE", "FR", "GB"]}');
INSERT INTO lead_mgmt.segments (name, condition, active)
VALUES ('inactive one', '{"field": "channel", "op": "=", "value": "paid"}', false);

-- the sales team and how leads reach it
INSERT INTO lead_mgmt.reps (name, email, regions, industries, seniority, capacity, weight) VALUES
  ('Rita', 'rita@example.com', '{EMEA}', '{fintech,banking}', 'senior', 40, 2),
  ('Sam',  'sam@example.com',  '{AMER}', '{retail}',          'junior', NULL, 1),
  ('Ola',  'ola@example.com',  '{EMEA,AMER}', '{saas}',       'enterprise', NULL, 3),
  ('Kim',  'kim@example.com',  '{}', '{}',                    'junior', 5, 1);
INSERT INTO lead_mgmt.reps (name, email, available) VALUES ('Away', 'away@example.com', false);
INSERT INTO lead_mgmt.assignment_rules (name, priority, condition, method, min_seniority, sla)
VALUES ('fintech to seniors', 1, '{"field": "industry", "op": "in", "value": ["fintech", "banking"]}',
        'weighted', 'senior', '1 day');
INSERT INTO lead_mgmt.assignment_rules (name, priority, method)
VALUES ('everyone else', 10, 'round_robin');

-- nurture
INSERT INTO lead_mgmt.sequences (name, enroll_condition, exit_condition) VALUES
  ('welcome', '{"event": "email_subscribed"}', '{"event": "demo_requested"}'),
  ('pricing follow-up', '{"event": "pricing_page_visited"}', NULL);
INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action, channel)
SELECT s.id, g, make_interval(days => g - 1), 'step ' || g, CASE WHEN g = 3 THEN 'phone' ELSE 'email' END
  FROM lead_mgmt.sequences s, generate_series(1, 3) g;

-- campaigns and their daily figures
INSERT INTO lead_mgmt.campaigns (code, name, channel, funnel_position, lead_magnet) VALUES
  ('spring', 'Spring launch', 'paid', 'top', 'guide.pdf'),
  ('webinar', 'Monthly webinar', 'organic', 'middle', NULL);
INSERT INTO lead_mgmt.campaign_daily (campaign, day, visitors, spend)
SELECT c, current_date - g, 100 + g * 3, round((20 + g * 1.5)::numeric, 2)
  FROM unnest(ARRAY['spring', 'webinar']) c, generate_series(1, 30) g;
});

# ~200 leads and ~2000 events through plain SQL, as applications write them
$node->safe_psql(
	'src', q{
SET client_min_messages = warning;
SELECT setseed(0.2025);

INSERT INTO lead_mgmt.leads (external_id, email, first_name, company, industry,
                             company_size, country, channel, campaign, lead_magnet,
                             attributes, created_at)
SELECT 'ext-' || g,
       'lead' || g || '@example.com',
       'First' || g,
       'Company ' || (g % 37),
       (ARRAY['fintech', 'retail', 'banking', 'saas', NULL])[1 + g % 5],
       (g * 7919) % 500,
       (ARRAY['DE', 'FR', 'US', 'GB'])[1 + g % 4],
       (ARRAY['organic', 'paid', 'referral'])[1 + g % 3],
       CASE WHEN g % 4 = 0 THEN 'spring' END,
       CASE WHEN g % 6 = 0 THEN 'guide.pdf' END,
       jsonb_build_object('n', g),
       now() - make_interval(days => 1 + g % 60, hours => 12)
  FROM generate_series(1, 200) g;

CREATE TEMP TABLE types AS
SELECT array_agg(name ORDER BY name) AS names
  FROM lead_mgmt.event_types
 WHERE name <> 'purchase';

INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at, properties)
SELECT l.id,
       t.names[1 + floor(random() * cardinality(t.names))::int],
       now() - make_interval(days => floor(random() * 45)::int, hours => 12),
       CASE WHEN random() < 0.2 THEN '{"tier": "enterprise"}'::jsonb ELSE '{}'::jsonb END
  FROM generate_series(1, 2000) g,
       LATERAL (SELECT id FROM lead_mgmt.leads ORDER BY random() + g * 0 LIMIT 1) l,
       types t;

-- a few customers
INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at)
SELECT id, 'purchase', now() - interval '2 days 12 hours'
  FROM lead_mgmt.leads WHERE id % 50 = 0;
});

# manual side: set_stage() and disqualify()
my $manual_lead = $node->safe_psql('src',
	q{SELECT min(id) FROM lead_mgmt.leads WHERE stage IN ('lead', 'iql', 'mql')});
my $disq_lead = $node->safe_psql('src',
	q{SELECT max(id) FROM lead_mgmt.leads WHERE stage IN ('lead', 'iql', 'mql')});
ok($manual_lead ne '' && $disq_lead ne '' && $manual_lead != $disq_lead,
	"leads to change by hand exist ($manual_lead, $disq_lead)");
$node->safe_psql(
	'src', qq{
SELECT lead_mgmt.set_stage($manual_lead, 'sql', 'called by a rep');
SELECT lead_mgmt.disqualify($disq_lead, 'competitor');
});

# sales side: deals won, lost and open; a manual assignment; nurture
# touches claimed by a sender, two of them completed
$node->safe_psql(
	'src', qq{
SET client_min_messages = warning;
INSERT INTO lead_mgmt.deals (lead_id, rep_id, amount, status, created_at, closed_at)
SELECT l.id, (SELECT min(id) FROM lead_mgmt.reps), 1000 + l.id * 10,
       (ARRAY['won', 'lost', 'open'])[1 + l.id % 3],
       now() - interval '20 days 12 hours',
       CASE WHEN l.id % 3 <> 2 THEN now() - interval '5 days 12 hours' END
  FROM lead_mgmt.leads l WHERE l.id % 7 = 1 AND l.id <> $disq_lead;
SELECT lead_mgmt.assign($manual_lead, (SELECT max(id) FROM lead_mgmt.reps WHERE available));
CREATE TEMP TABLE claimed AS SELECT * FROM lead_mgmt.claim_touches('sender-1', 6);
SELECT lead_mgmt.complete_touch(touch_id) FROM (SELECT touch_id FROM claimed ORDER BY touch_id LIMIT 1) t;
SELECT lead_mgmt.complete_touch(touch_id, 'bounced') FROM (SELECT touch_id FROM claimed ORDER BY touch_id OFFSET 1 LIMIT 1) t;
});
for my $check (
	[ q{SELECT count(*) FROM lead_mgmt.segment_members}, 'segment members' ],
	[ q{SELECT count(*) FROM lead_mgmt.assignments WHERE reason = 'rule'}, 'assignments by rule' ],
	[ q{SELECT count(*) FROM lead_mgmt.assignments WHERE reason = 'manual'}, 'manual assignments' ],
	[ q{SELECT count(*) FROM lead_mgmt.assignments WHERE ended_at IS NOT NULL}, 'ended assignments' ],
	[ q{SELECT count(DISTINCT rule_id) FROM lead_mgmt.rotation_state}, 'rotation states' ],
	[ q{SELECT count(*) FROM lead_mgmt.enrollments}, 'enrolments' ],
	[ q{SELECT count(*) FROM lead_mgmt.touches WHERE claimed_at IS NOT NULL AND done_at IS NULL}, 'claimed touches' ],
	[ q{SELECT count(*) FROM lead_mgmt.touches WHERE done_at IS NOT NULL AND outcome IN ('sent', 'bounced')}, 'completed touches' ],
	[ q{SELECT count(*) FROM lead_mgmt.deals WHERE status = 'won'}, 'won deals' ],
	[ q{SELECT count(*) FROM lead_mgmt.deals WHERE status = 'lost'}, 'lost deals' ],
	[ q{SELECT count(*) FROM lead_mgmt.deals WHERE status = 'open'}, 'open deals' ],
	[ q{SELECT count(*) FROM lead_mgmt.campaign_daily}, 'campaign days' ])
{
	cmp_ok($node->safe_psql('src', $check->[0]), '>', 0, "src has $check->[1]");
}
is( $node->safe_psql(
		'src', q{SELECT count(*) FROM lead_mgmt.touches WHERE done_at IS NOT NULL AND outcome IN ('sent', 'bounced')}),
	'2', 'src: two touches completed');

is( $node->safe_psql(
		'src',
		qq{SELECT stage || ',' || (disqualified_at IS NOT NULL) FROM lead_mgmt.leads WHERE id = $manual_lead}),
	'sql,false', 'set_stage() applied in src');
is( $node->safe_psql(
		'src',
		qq{SELECT disqualified_reason FROM lead_mgmt.leads WHERE id = $disq_lead AND disqualified_at IS NOT NULL}),
	'competitor', 'disqualify() applied in src');

my %src_counts;
for my $t (qw(leads events stage_history scoring_rules))
{
	$src_counts{$t} =
	  $node->safe_psql('src', "SELECT count(*) FROM lead_mgmt.$t");
}
cmp_ok($src_counts{leads},  '==', 200,  'src has 200 leads');
cmp_ok($src_counts{events}, '>=', 2000, 'src has >= 2000 events');
cmp_ok($src_counts{stage_history}, '>', 0, 'src has stage history');
cmp_ok(
	$node->safe_psql('src', 'SELECT count(DISTINCT stage) FROM lead_mgmt.leads'),
	'>=', 4, 'src leads spread over stages');
note('src stages: '
	  . $node->safe_psql('src',
		q{SELECT string_agg(stage || '=' || n, ' ' ORDER BY stage) FROM
		    (SELECT stage, count(*) n FROM lead_mgmt.leads GROUP BY stage) s}));

# ------------------------------------------------------------ dump and restore
my $dumpfile = $node->basedir . '/src.dump';
my ($out, $err) = ('', '');
my $ok = IPC::Run::run(
	[
		'pg_dump', '-Fc', '-f', $dumpfile,
		'-h', $node->host, '-p', $node->port, '-d', 'src'
	],
	'>', \$out, '2>', \$err);
ok($ok, 'pg_dump -Fc exits 0') or diag("pg_dump stderr:\n$err");
is($err, '', 'pg_dump prints nothing on stderr') or diag($err);

$node->command_ok([ 'createdb', 'dst' ], 'createdb dst');

($out, $err) = ('', '');
{
	local $ENV{PGOPTIONS} = '-c session_replication_role=replica';
	$ok = IPC::Run::run(
		[
			'pg_restore', '-h', $node->host, '-p', $node->port,
			'-d', 'dst', $dumpfile
		],
		'>', \$out, '2>', \$err);
}
ok($ok, 'pg_restore (session_replication_role = replica) exits 0')
  or diag("pg_restore stderr:\n$err");
unlike($err, qr/error/i, 'pg_restore reports no error')
  or diag("pg_restore stderr:\n$err");

# ------------------------------------------------------------ same content
# every table of the schema, as the catalog lists them
my $list_tables =
  q{SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'lead_mgmt'};
my @tables = split / /, $node->safe_psql('src', $list_tables);
is($node->safe_psql('dst', $list_tables), join(' ', @tables),
	'dst has the same tables as src (' . scalar(@tables) . ')');
cmp_ok(scalar(@tables), '>=', 21, 'every table of lead_mgmt is compared');
# tables pg_dump would leave out: not registered with pg_extension_config_dump
is( $node->safe_psql(
		'src', q{
SELECT coalesce(string_agg(c.relname, ', ' ORDER BY c.relname), '')
  FROM pg_class c, pg_extension e
 WHERE e.extname = 'lead_mgmt' AND c.relnamespace = 'lead_mgmt'::regnamespace
   AND c.relkind IN ('r', 'S') AND NOT c.oid = ANY (e.extconfig)}),
	'', 'every table and sequence of lead_mgmt is registered for pg_dump');
for my $t (@tables)
{
	my $q =
	  "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), 'empty') FROM lead_mgmt.$t t";
	my $s = $node->safe_psql('src', $q);
	my $d = $node->safe_psql('dst', $q);
	is($d, $s, "lead_mgmt.$t: same content in dst as in src (rows, md5)");
}

# every sequence in the same state, before anything is written in dst
my $seq_state = q{
SELECT string_agg(sequencename || '=' || coalesce(last_value::text, 'unused'), ' ' ORDER BY sequencename)
  FROM pg_sequences WHERE schemaname = 'lead_mgmt'};
is($node->safe_psql('dst', $seq_state), $node->safe_psql('src', $seq_state),
	'every sequence of lead_mgmt has the same state in dst as in src');
# distribution continues where it stopped (checked before anything else is
# written in dst): the same new sales-ready leads go to the same reps in src
# and in dst (round-robin and weighted cursors restored), and no lead has
# two open assignments
my $next_owners = q{
SET client_min_messages = warning;
CREATE TEMP TABLE after_leads AS
SELECT g, lead_mgmt.capture(jsonb_build_object(
              'external_id', 'after-' || g, 'industry', CASE WHEN g % 2 = 0 THEN 'fintech' END)) AS id
  FROM generate_series(1, 6) g;
CREATE TEMP TABLE tracked AS SELECT lead_mgmt.track(id, 'demo_requested') FROM (SELECT id FROM after_leads ORDER BY g) a;
SELECT string_agg(coalesce(r.name, '-'), ',' ORDER BY a.g)
  FROM after_leads a JOIN lead_mgmt.leads l ON l.id = a.id
  LEFT JOIN lead_mgmt.reps r ON r.id = l.owner_id;
};
my $src_owners = $node->safe_psql('src', $next_owners);
is($node->safe_psql('dst', $next_owners), $src_owners,
	"dst: new sales-ready leads go to the same reps as in src ($src_owners)");
is( $node->safe_psql(
		'dst', q{
SELECT count(*) FROM (SELECT lead_id FROM lead_mgmt.assignments WHERE ended_at IS NULL
                       GROUP BY lead_id HAVING count(*) > 1) x}),
	'0', 'dst: no lead has two open assignments');
# and every identity column continues past the restored ids
my @identity = split /\n/, $node->safe_psql(
	'dst', q{
SELECT c.relname || ' ' || a.attname
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'lead_mgmt'::regnamespace AND c.relkind = 'r' AND a.attidentity <> ''
 ORDER BY 1});
cmp_ok(scalar(@identity), '>=', 12, 'identity columns found (' . scalar(@identity) . ')');
for my $ic (@identity)
{
	my ($t, $col) = split / /, $ic;
	is( $node->safe_psql(
			'dst',
			"SELECT nextval(pg_get_serial_sequence('lead_mgmt.$t', '$col')) > coalesce((SELECT max($col) FROM lead_mgmt.$t), 0)"),
		't', "dst: the identity of lead_mgmt.$t.$col continues past the restored ids");
}

# shipped rows exactly once, edits kept
is($node->safe_psql('dst', q{SELECT min_score FROM lead_mgmt.stages WHERE name = 'sql'}),
	'70', 'edited shipped stage sql keeps min_score 70');
is($node->safe_psql('dst', q{SELECT value FROM lead_mgmt.settings WHERE name = 'default_sla'}),
	'3 days', 'edited shipped setting default_sla keeps 3 days');
is( $node->safe_psql(
		'dst', q{SELECT string_agg(name || ':' || rank, ',' ORDER BY rank) FROM lead_mgmt.stages}),
	'lead:0,iql:10,mql:20,trial:25,sql:30,customer:40',
	'stages: shipped ones once each, plus trial');
is( $node->safe_psql(
		'dst', q{SELECT count(*) || ' ' || count(DISTINCT name) FROM lead_mgmt.event_types}),
	'17 17', 'event_types: 16 shipped once each plus the custom one');
ok( $node->safe_psql(
		'dst', q{SELECT count(*) = 1 FROM lead_mgmt.event_types WHERE name = 'webinar_attended'}) eq 't',
	'custom event type restored');
is( $node->safe_psql(
		'dst', q{SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM lead_mgmt.settings}),
	'default_sla=3 days,mql_stall_after=14 days,touch_lease=5 minutes,winback_after=30 days',
	'settings: each once, edit kept');
is($node->safe_psql('dst', 'SELECT count(*) FROM lead_mgmt.engine_state'),
	'1', 'engine_state: one row');
is($node->safe_psql('dst', 'SELECT count(*) FROM lead_mgmt.scoring_rules'),
	$src_counts{scoring_rules}, 'scoring_rules: same number of rules');
is( $node->safe_psql(
		'dst', qq{SELECT stage || ',' || (disqualified_at IS NOT NULL) FROM lead_mgmt.leads WHERE id = $manual_lead}),
	'sql,false', 'manual stage change restored');
is( $node->safe_psql(
		'dst', qq{SELECT disqualified_reason FROM lead_mgmt.leads WHERE id = $disq_lead AND disqualified_at IS NOT NULL}),
	'competitor', 'disqualification restored');

# ------------------------------------------------------------ restored state is consistent
# the restored state equals a rescore from scratch (computed columns were
# restored as dumped, and they are what the restored rules and events give)
sub differences_from_rescore
{
	my ($db) = @_;
	return $node->safe_psql(
		$db, q{
SET client_min_messages = warning;
CREATE TEMP TABLE maintained AS
SELECT id, score, engagement_score, fit_score, stage, event_counts,
       recheck_at, last_event_at, converted_at, rules_version,
       segment_ids, sequence_ids, owner_id
  FROM lead_mgmt.leads;
SELECT lead_mgmt.rescore() >= 200;
SELECT count(*) FROM (
    SELECT * FROM maintained
    EXCEPT
    SELECT id, score, engagement_score, fit_score, stage, event_counts,
           recheck_at, last_event_at, converted_at, rules_version,
           segment_ids, sequence_ids, owner_id
      FROM lead_mgmt.leads) d;
});
}
is(differences_from_rescore('dst'), "t\n0",
	'dst: restored lead state equals lead_mgmt.rescore() from scratch');
# the same holds in src (the check itself is meaningful)
is(differences_from_rescore('src'), "t\n0",
	'src: lead state equals lead_mgmt.rescore() from scratch');
is($node->safe_psql('dst', 'SELECT lead_mgmt.refresh_segments()'), '0',
	'dst: segment membership equals a rebuild (refresh_segments() changes nothing)');

# ------------------------------------------------------------ identity sequences
for my $case (
	[
		'leads',
		q{INSERT INTO lead_mgmt.leads (email) VALUES ('after.restore@example.com') RETURNING id}
	],
	[
		'events',
		q{INSERT INTO lead_mgmt.events (lead_id, event_type) SELECT min(id), 'email_opened' FROM lead_mgmt.leads RETURNING id}
	],
	[
		'scoring_rules',
		q{INSERT INTO lead_mgmt.scoring_rules (name, event_type, points) VALUES ('after restore', 'chat_started', 1) RETURNING id}
	],
	[
		'stage_history',
		qq{SELECT lead_mgmt.set_stage($manual_lead, 'mql', 'after restore');
		   SELECT max(id) FROM lead_mgmt.stage_history}
	])
{
	my ($t, $sql) = @$case;
	my $max_src = $node->safe_psql('src', "SELECT max(id) FROM lead_mgmt.$t");
	my ($ret, $stdout, $stderr) = $node->psql('dst', $sql);
	is($ret, 0, "dst: a new row in lead_mgmt.$t can be inserted")
	  or diag("error in dst: $stderr");
	my ($new_id) = ($stdout // '') =~ /(\d+)\s*\z/;
	$new_id //= 0;
	cmp_ok($new_id, '>', $max_src,
		"dst: new lead_mgmt.$t id ($new_id) is past the restored max id ($max_src)");
}

# ------------------------------------------------------------ behaviour after restore
my $lead = $node->safe_psql('dst',
	q{SELECT min(l.id) FROM lead_mgmt.leads l
	   WHERE l.disqualified_at IS NULL AND l.stage <> 'customer'
	     AND NOT EXISTS (SELECT 1 FROM lead_mgmt.events e
	                      WHERE e.lead_id = l.id AND e.event_type = 'webinar_attended')});
my $before =
  $node->safe_psql('dst', "SELECT score FROM lead_mgmt.leads WHERE id = $lead");
my ($ret, $stdout, $stderr) = $node->psql('dst',
	"SELECT lead_mgmt.track($lead, 'webinar_attended', '{}', now(), 'restore-test-1') > 0");
is($ret, 0, "dst: track() works for lead $lead") or diag($stderr);
my $after =
  $node->safe_psql('dst', "SELECT score FROM lead_mgmt.leads WHERE id = $lead");
cmp_ok($after, '>', $before,
	"dst: tracking a scored event raises the lead's score ($before -> $after)");

# configuration edits in dst still rescore (triggers active again after restore)
($ret, $stdout, $stderr) = $node->psql('dst',
	q{UPDATE lead_mgmt.scoring_rules SET points = 50 WHERE name = 'attended a webinar'});
is($ret, 0, 'dst: editing a rule works') or diag($stderr);
cmp_ok($node->safe_psql('dst', "SELECT score FROM lead_mgmt.leads WHERE id = $lead"),
	'>', $after, 'dst: a rule edit rescores the lead');

# what the triggers maintained in dst since the restore equals a rescore too
is(differences_from_rescore('dst'), "t\n0",
	'dst: after new rows, events and a rule edit, state equals lead_mgmt.rescore()');

# the nurture queue continues: the claimed touches are still the sender's
is( $node->safe_psql(
		'dst', q{SELECT count(*) FROM lead_mgmt.claim_touches('sender-2', 10000) c
		          JOIN lead_mgmt.touches t ON t.id = c.touch_id WHERE t.claimed_by = 'sender-1'}),
	'0', 'dst: touches claimed before the dump stay with their sender');

$node->stop;

done_testing();
