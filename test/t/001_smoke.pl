# TAP smoke test: a fresh node can CREATE EXTENSION lead_mgmt and sees the
# five shipped stages.  Run by `bash test/harness.sh test` (see the TAP suite
# there for the environment: cwd is a copy of the repository root).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('smoke');
$node->init;
$node->start;

my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE EXTENSION lead_mgmt');
is($ret, 0, 'CREATE EXTENSION lead_mgmt') or diag($stderr);

is($node->safe_psql('postgres', 'SELECT count(*) FROM lead_mgmt.stages'),
	'5', 'lead_mgmt.stages has 5 rows');

is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(name, ',' ORDER BY rank) FROM lead_mgmt.stages}),
	'lead,iql,mql,sql,customer',
	'stages in rank order');

$node->stop;

done_testing();
