# TAP test: the three kinds of user and rep isolation, with real login
# roles connecting on their own, and across pg_dump / pg_restore.
#
# DESIGN.md section 7; the regress test sql/30_security.sql covers each
# privilege in detail (with SET ROLE).  Here:
#   - app (writer), bi (analyst), ops (admin), and the reps ann and ben log
#     in; ops configures, app captures and records, leads are distributed
#     to the reps by region;
#   - with rep isolation on, ann and ben each see and change only their own
#     leads, events and deals; bi and app see everything they are granted;
#   - pg_dump does not carry the row-level security of an extension's
#     tables: after pg_restore (the documented way, session_replication_role
#     = replica) the isolation is back because lead_mgmt.security_state is
#     dumped and restoring its row turns the policies on again; the grants
#     are restored by pg_dump itself.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('roles');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE ROLE bi  LOGIN;
CREATE ROLE ops LOGIN;
CREATE ROLE ann LOGIN;
CREATE ROLE ben LOGIN;
CREATE DATABASE crm;
});
$node->safe_psql('crm', q{
SET client_min_messages = warning;
CREATE EXTENSION lead_mgmt;
SELECT lead_mgmt.grant_writer('app');
SELECT lead_mgmt.grant_analyst('bi');
SELECT lead_mgmt.grant_admin('ops');
SELECT lead_mgmt.grant_writer('ann', touch_queue => false), lead_mgmt.grant_analyst('ann');
SELECT lead_mgmt.grant_writer('ben', touch_queue => false), lead_mgmt.grant_analyst('ben');
});

# psql as a login role: ($ret, $stdout, $stderr)
sub as
{
	my ($role, $db, $sql) = @_;
	my ($ret, $out, $err) =
	  $node->psql($db, $sql, extra_params => [ '-U', $role ]);
	return ($ret, $out, $err);
}

sub ok_as
{
	my ($role, $db, $sql, $name) = @_;
	my ($ret, $out, $err) = as($role, $db, $sql);
	is($ret, 0, "$role: $name") or diag($err);
	return $out;
}

sub refused_as
{
	my ($role, $db, $sql, $pattern, $name) = @_;
	my ($ret, $out, $err) = as($role, $db, $sql);
	isnt($ret, 0, "$role: $name is refused");
	like($err, $pattern, "$role: $name: the error says why");
}

# ------------------------------------------------------------ configuration
ok_as('ops', 'crm', q{
SELECT lead_mgmt.load_example_rules();
INSERT INTO lead_mgmt.reps (name, regions, db_role) VALUES
    ('Ann', '{EMEA}', 'ann'), ('Ben', '{NA}', 'ben');
INSERT INTO lead_mgmt.assignment_rules (name, priority, method, match_region)
VALUES ('by region', 10, 'round_robin', true);
INSERT INTO lead_mgmt.segments (name, condition)
VALUES ('emea', '{"field": "region", "op": "=", "value": "EMEA"}');
}, 'configures rules, reps, assignment and a segment');

# ------------------------------------------------------------ data
ok_as('app', 'crm', q{
SELECT lead_mgmt.track(lead_mgmt.capture(jsonb_build_object(
           'email', e, 'region', r, 'first_name', initcap(split_part(e, '@', 1)))),
       'demo_requested')
  FROM (VALUES ('ada@example.com', 'EMEA'), ('eva@example.com', 'EMEA'),
               ('bob@example.com', 'NA'),   ('nat@example.com', 'NA')) v(e, r);
INSERT INTO lead_mgmt.deals (lead_id, amount)
SELECT id, 100 * id FROM lead_mgmt.leads;
UPDATE lead_mgmt.deals SET status = 'won'
 WHERE lead_id IN (SELECT id FROM lead_mgmt.leads WHERE email IN ('ada@example.com', 'bob@example.com'));
}, 'captures four sales-ready leads, records deals, wins two');

is( $node->safe_psql(
		'crm', q{
SELECT string_agg(l.email || '=' || r.name, ' ' ORDER BY l.email)
  FROM lead_mgmt.leads l JOIN lead_mgmt.reps r ON r.id = l.owner_id}),
	'ada@example.com=Ann bob@example.com=Ben eva@example.com=Ann nat@example.com=Ben',
	'leads were assigned by region');

refused_as('app', 'crm', 'UPDATE lead_mgmt.leads SET score = 100',
	qr/permission denied for table leads/, 'a writer updating a score');
refused_as('app', 'crm', 'SELECT lead_mgmt.rescore()',
	qr/permission denied for function rescore/, 'a writer calling rescore()');
refused_as('bi', 'crm', q{INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES (1, 'email_opened')},
	qr/permission denied for table events/, 'an analyst inserting an event');
refused_as('ops', 'crm', 'INSERT INTO lead_mgmt.stage_history (lead_id, to_stage, changed_at, reason) '
	  . q{VALUES (1, 'customer', now(), 'manual')},
	qr/permission denied for table stage_history/, 'an admin forging stage history');
is(ok_as('ops', 'crm', 'SELECT lead_mgmt.rescore()', 'rescore()'), '4', 'an admin rescores every lead');

# ------------------------------------------------------------ rep isolation
$node->safe_psql('crm', 'SELECT lead_mgmt.enable_rep_isolation()');

sub check_isolation
{
	my ($db) = @_;
	is( ok_as('ann', $db, 'SELECT string_agg(email, \' \' ORDER BY email) FROM lead_mgmt.leads', "reads leads in $db"),
		'ada@example.com eva@example.com', "$db: ann sees her two leads");
	is( ok_as('ben', $db, 'SELECT string_agg(email, \' \' ORDER BY email) FROM lead_mgmt.leads', "reads leads in $db"),
		'bob@example.com nat@example.com', "$db: ben sees his two leads");
	is( ok_as(
			'ann', $db,
			q{SELECT (SELECT count(DISTINCT lead_id) FROM lead_mgmt.events) || ' '
			      || (SELECT count(*) FROM lead_mgmt.deals) || ' '
			      || (SELECT customers FROM lead_mgmt.funnel_summary) || ' '
			      || (SELECT string_agg(name, ',') FROM lead_mgmt.rep_performance)},
			"reads events, deals and the views in $db"),
		'2 2 1 Ann', "$db: ann's events, deals, funnel and rep performance are hers alone");
	ok_as('ann', $db,
		q{SELECT lead_mgmt.track(id, 'rep_contacted') FROM lead_mgmt.leads WHERE email = 'eva@example.com'},
		"records an event for her own lead in $db");
	my $bobs = $node->safe_psql($db, q{SELECT id FROM lead_mgmt.leads WHERE email = 'bob@example.com'});
	refused_as('ann', $db,
		"INSERT INTO lead_mgmt.events (lead_id, event_type) VALUES ($bobs, 'rep_contacted')",
		qr/row-level security/, "$db: an event for ben's lead");
	refused_as('ann', $db, "SELECT lead_mgmt.track($bobs, 'rep_contacted')",
		qr/lead $bobs does not exist/, "$db: track() for ben's lead");
	is( ok_as('ann', $db, "WITH u AS (UPDATE lead_mgmt.deals SET amount = 0 WHERE lead_id = $bobs RETURNING 1) SELECT count(*) FROM u",
			"updates deals in $db"),
		'0', "$db: ann cannot change ben's deal");
	is(ok_as('bi', $db, 'SELECT count(*) FROM lead_mgmt.leads', "reads leads in $db"),
		'4', "$db: the analyst, not a rep, sees every lead");
	refused_as('bi', $db, 'SELECT email FROM lead_mgmt.leads',
		qr/permission denied for table leads/, "$db: an analyst reading emails");
}

check_isolation('crm');

# ------------------------------------------------------------ dump and restore
my $dumpfile = $node->basedir . '/crm.dump';
my ($out, $err) = ('', '');
my $ok = IPC::Run::run(
	[ 'pg_dump', '-Fc', '-f', $dumpfile, '-h', $node->host, '-p', $node->port, '-d', 'crm' ],
	'>', \$out, '2>', \$err);
ok($ok, 'pg_dump -Fc exits 0') or diag($err);

$node->command_ok([ 'createdb', 'crm_copy' ], 'createdb crm_copy');
($out, $err) = ('', '');
{
	local $ENV{PGOPTIONS} = '-c session_replication_role=replica';
	$ok = IPC::Run::run(
		[ 'pg_restore', '-h', $node->host, '-p', $node->port, '-d', 'crm_copy', $dumpfile ],
		'>', \$out, '2>', \$err);
}
ok($ok, 'pg_restore (session_replication_role = replica) exits 0') or diag($err);
unlike($err, qr/error/i, 'pg_restore reports no error') or diag($err);

is( $node->safe_psql(
		'crm_copy', q{
SELECT s.rep_isolation
       || ' ' || (SELECT count(*) FROM pg_class c
                   WHERE c.relnamespace = 'lead_mgmt'::regnamespace AND c.relrowsecurity)
       || ' ' || (SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                   WHERE c.relnamespace = 'lead_mgmt'::regnamespace)
  FROM lead_mgmt.security_state s}),
	'true 9 9', 'crm_copy: rep isolation is on again (9 tables, 9 policies)');
is( $node->safe_psql(
		'crm_copy', q{
SELECT has_column_privilege('app', 'lead_mgmt.events', 'event_type', 'INSERT')
       AND has_function_privilege('app', 'lead_mgmt.capture(jsonb)', 'EXECUTE')
       AND NOT has_function_privilege('ann', 'lead_mgmt.claim_touches(text, integer)', 'EXECUTE')
       AND has_table_privilege('ops', 'lead_mgmt.scoring_rules', 'UPDATE')
       AND NOT has_column_privilege('bi', 'lead_mgmt.leads', 'email', 'SELECT')
       AND NOT has_function_privilege('public', 'lead_mgmt.rescore(bigint)', 'EXECUTE')}),
	't', 'crm_copy: the grants came back with the dump');

check_isolation('crm_copy');

# turning it off and on again works in the copy too
$node->safe_psql('crm_copy', 'SELECT lead_mgmt.disable_rep_isolation()');
is(ok_as('ann', 'crm_copy', 'SELECT count(*) FROM lead_mgmt.leads', 'reads leads'),
	'4', 'crm_copy: without isolation ann sees what her grants allow');

$node->stop;

done_testing();
