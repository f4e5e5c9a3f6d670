# A sender that dies loses no touch (DESIGN.md §5 Nurture).
#
#  * A worker claims touches inside a transaction and its connection is
#    killed before it commits: the claim rolls back with the transaction,
#    so the touches are claimable again at once (meanwhile, SKIP LOCKED
#    made other workers pass them by without waiting).
#  * A worker claims in autocommit (the claim is committed) and dies before
#    completing: the touches stay with it for touch_lease, then return to
#    the queue (run_maintenance() reports them released).
# In the end every lead got its email exactly once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker_crash');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION lead_mgmt;
	INSERT INTO lead_mgmt.sequences (name, enroll_condition)
	VALUES ('welcome', '{"event": "email_subscribed"}');
	INSERT INTO lead_mgmt.sequence_steps (sequence_id, step, delay, action)
	SELECT id, 1, '0', 'welcome email' FROM lead_mgmt.sequences WHERE name = 'welcome';
	INSERT INTO lead_mgmt.leads (external_id, email)
	SELECT 'w' || g, 'w' || g || '@x.test' FROM generate_series(1, 10) g;
	INSERT INTO lead_mgmt.events (lead_id, event_type) SELECT id, 'email_subscribed' FROM lead_mgmt.leads;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM lead_mgmt.touches WHERE done_at IS NULL'),
	'10', 'ten touches due');

# How many touches a worker would get now, without keeping them.
sub claimable
{
	return $node->safe_psql('postgres', q{
		BEGIN;
		SELECT count(*) FROM lead_mgmt.claim_touches('probe', 1000);
		ROLLBACK;
	});
}

sub wait_gone
{
	my ($pid) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid")
	  or die "backend $pid did not exit";
}

# ---- killed mid-transaction
my $a = $node->background_psql('postgres', on_error_stop => 0);
my $a_pid = $a->query_safe('SELECT pg_backend_pid()');
$a->query_safe('BEGIN');
is($a->query_safe("SELECT count(*) FROM lead_mgmt.claim_touches('worker-a', 4)"),
	'4', 'worker a claims 4 in an open transaction');
is(claimable(), '6', 'meanwhile another worker gets the other 6 (a\'s are skipped, not waited for)');

$node->safe_psql('postgres', "SELECT pg_terminate_backend($a_pid)");
wait_gone($a_pid);
$a->quit;

is($node->safe_psql('postgres',
		'SELECT count(*) FROM lead_mgmt.touches WHERE claimed_by IS NOT NULL OR done_at IS NOT NULL'),
	'0', 'the killed claim left no trace');
is(claimable(), '10', 'all 10 are claimable again at once');

# ---- claimed in autocommit, then killed before completing
$node->safe_psql('postgres',
	q{UPDATE lead_mgmt.settings SET value = '5 seconds' WHERE name = 'touch_lease'});
my $b = $node->background_psql('postgres', on_error_stop => 0);
my $b_pid = $b->query_safe('SELECT pg_backend_pid()');
is($b->query_safe("SELECT count(*) FROM lead_mgmt.claim_touches('worker-b', 3)"),
	'3', 'worker b claims 3 (committed)');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($b_pid)");
wait_gone($b_pid);
$b->quit;

is($node->safe_psql('postgres',
		q{SELECT count(*) FROM lead_mgmt.touches WHERE claimed_by = 'worker-b' AND done_at IS NULL}),
	'3', 'b\'s claims survive it (committed)');
is(claimable(), '7', 'within the lease they are not handed out');

$node->poll_query_until('postgres', q{
	SELECT bool_and(claimed_at + interval '5 seconds' < now())
	  FROM lead_mgmt.touches WHERE claimed_by = 'worker-b'})
  or die 'the lease never ran out';
is(claimable(), '10', 'after the lease all 10 are claimable again');
is($node->safe_psql('postgres', q{SELECT lead_mgmt.run_maintenance() ->> 'touches_released'}),
	'3', 'run_maintenance releases the 3 expired claims');
is($node->safe_psql('postgres', q{SELECT lead_mgmt.run_maintenance() ->> 'touches_due'}),
	'10', 'and counts 10 touches due');

# ---- a healthy worker drains the queue
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' claimed, ' || count(lead_mgmt.complete_touch(touch_id)) || ' next'
	  FROM lead_mgmt.claim_touches('worker-c', 100)}),
	'10 claimed, 0 next', 'worker c claims and completes all 10 (one-step sequence: no next touch)');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE n = 1) || '/' || count(*)
	  FROM (SELECT l.id, count(e.id) AS n FROM lead_mgmt.leads l
	          LEFT JOIN lead_mgmt.events e ON e.lead_id = l.id AND e.event_type = 'email_sent'
	         GROUP BY l.id) x}),
	'10/10', 'every lead got its email exactly once');
is($node->safe_psql('postgres',
		q{SELECT string_agg(DISTINCT status, ',') FROM lead_mgmt.enrollments}),
	'completed', 'every enrolment completed');
is(claimable(), '0', 'nothing left');

$node->stop;
done_testing();
