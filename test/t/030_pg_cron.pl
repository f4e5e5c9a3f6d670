# run_maintenance() scheduled with pg_cron (DESIGN.md §5 Maintenance).
#
# A node with shared_preload_libraries = 'pg_cron' schedules
# lead_mgmt.run_maintenance() and we wait until pg_cron reports a run that
# succeeded, and see its effect: a touch claim whose lease ran out is
# released (only maintenance clears claimed_by).
#
# pg_cron runs jobs in cron.database_name through background workers here
# (cron.use_background_workers): the test nodes listen on a unix socket
# only, and pg_cron's default libpq connection goes to localhost over TCP.
# pg_cron >= 1.5 accepts '2 seconds'; older versions (Debian 12 ships 1.4)
# only cron syntax, whose finest step is a minute: then the first run comes
# at the next full minute (up to 60 s).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('pg_cron');
$node->init;
$node->start;

if ($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'}) ne '1')
{
	$node->stop;
	plan skip_all => 'pg_cron is not installed (Debian: apt-get install postgresql-15-cron)';
}

$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->restart;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION lead_mgmt;
	-- a touch claimed by a worker that went away; its lease has run out
	-- by the time any scheduled run starts
	UPDATE lead_mgmt.settings SET value = '1 microsecond' WHERE name = 'touch_lease';
	INSERT INTO lead_mgmt.sequences (name, enroll_condition)
	VALUES ('welcome', '{"event": "email_subscribed"}');
	INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
	SELECT id, 1, '0', 'welcome email' FROM lead_mgmt.sequences WHERE name = 'welcome';
	INSERT INTO lead_mgmt.leads (email) VALUES ('cron@x.test');
	INSERT INTO lead_mgmt.events (lead_id, event_type) SELECT id, 'email_subscribed' FROM lead_mgmt.leads;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM lead_mgmt.claim_touches('gone-worker')}),
	'1', 'a worker claims the touch and goes away');

my $version = $node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'});
note("pg_cron $version");

# Seconds if this pg_cron has them, else every minute.
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT cron.schedule('lead_mgmt maintenance', '2 seconds', 'SELECT lead_mgmt.run_maintenance()')});
my $schedule = '2 seconds';
if ($ret != 0)
{
	note("pg_cron $version does not take '2 seconds' ($err): scheduling every minute");
	$schedule = '* * * * *';
	$node->safe_psql('postgres',
		q{SELECT cron.schedule('lead_mgmt maintenance', '* * * * *', 'SELECT lead_mgmt.run_maintenance()')});
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job WHERE jobname = 'lead_mgmt maintenance'}),
	'1', "maintenance scheduled ($schedule)");

# Wait (up to 90 s) for a run that succeeded; stop at the first failure.
my $deadline = time() + 90;
my $state = '';
while (time() < $deadline)
{
	$state = $node->safe_psql('postgres', q{
		SELECT coalesce(string_agg(DISTINCT d.status, ','), '')
		  FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		 WHERE j.jobname = 'lead_mgmt maintenance' AND d.status IN ('succeeded', 'failed')});
	last if $state ne '';
	usleep(500_000);
}
is($state, 'succeeded', 'pg_cron ran lead_mgmt.run_maintenance() and it succeeded')
  or diag($node->safe_psql('postgres',
	q{SELECT string_agg(status || ': ' || coalesce(return_message, ''), E'\n') FROM cron.job_run_details}));

is($node->safe_psql('postgres', q{
	SELECT return_message FROM cron.job_run_details WHERE status = 'succeeded' ORDER BY runid LIMIT 1}),
	'SELECT 1', 'it returned its one row (the jsonb of counts)');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM lead_mgmt.touches WHERE claimed_by IS NULL AND done_at IS NULL}),
	'1', 'the scheduled maintenance released the expired claim');

$node->safe_psql('postgres', q{SELECT cron.unschedule('lead_mgmt maintenance')});
$node->stop;
done_testing();
