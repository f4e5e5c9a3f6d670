#!/usr/bin/env bash
# Fuzz lead_mgmt with sqlsmith for a bounded time; fail on any server crash.
#
#   bash test/sqlsmith.sh [SECONDS]        default 600
#
# What it does:
#   1. installs sqlsmith (Debian package) if it is missing;
#   2. starts a throwaway cluster of its own through test/harness.sh
#      (LM_TMP=/tmp/lm_sqlsmith, LM_PORT=54339 unless LM_SQLSMITH_TMP /
#      LM_SQLSMITH_PORT say otherwise), so it never touches another run's;
#   3. creates database lm_fuzz with the extension and a realistic data set
#      (bench/demo.sql with 1,000 leads: rules, stages, reps, assignment
#      rules, segments, a nurture sequence and its touches, campaigns,
#      deals), plus a few hostile rows;
#   4. runs sqlsmith against it for SECONDS.  sqlsmith generates random
#      queries from the catalog (SELECTs, and INSERT/UPDATE/DELETE/MERGE that
#      it rolls back) with statement_timeout = 1s.  Two phases of half the
#      time each:
#        focus  sqlsmith sees only lead_mgmt's functions, a curated set of
#               built-in functions that build its argument types (jsonb,
#               text, numbers, timestamps, intervals, arrays) and every
#               aggregate -- so most queries exercise the extension;
#        full   every function of the catalog, minus a few that would stop
#               the run rather than test anything (pg_terminate_backend,
#               pg_sleep, lo_export, ...).
#      The restriction works by search_path: sqlsmith reads pg_proc
#      unqualified, and the connection puts schema sqlsmith_focus (a view
#      named pg_proc) before pg_catalog.  --exclude-catalog keeps catalog
#      tables out of FROM clauses in both phases;
#   5. fails (exit 1) if the server log shows a crashed backend ("terminated
#      by signal", "was terminated by exception", PANIC, TRAP), printing each
#      crash with the query that was running.  Prints the number of queries
#      executed (sqlsmith's own count) and the internal errors (SQLSTATE
#      XX000) raised.
#
# Environment: LM_SQLSMITH_TMP, LM_SQLSMITH_PORT, LM_SQLSMITH_LOGDIR (where
# the server log and sqlsmith's output are kept, default
# tmp_check/sqlsmith), LM_SQLSMITH_MODE (both | focus | full, default both),
# LM_SQLSMITH_SEED (sqlsmith --seed; default: one per phase from the clock),
# LM_SQLSMITH_LEADS (default 1000).  Two runs at the same time need their
# own LM_SQLSMITH_TMP and LM_SQLSMITH_PORT.  The extension must be built and
# installed (make && make install).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
cd "$REPO"

DURATION=${1:-600}
[[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || { echo "usage: $0 [seconds]" >&2; exit 2; }
MODE=${LM_SQLSMITH_MODE:-both}
case $MODE in both | focus | full) ;; *) echo "LM_SQLSMITH_MODE: both, focus or full" >&2; exit 2 ;; esac
N_LEADS=${LM_SQLSMITH_LEADS:-1000}

export LM_TMP=${LM_SQLSMITH_TMP:-/tmp/lm_sqlsmith}
export LM_PORT=${LM_SQLSMITH_PORT:-54339}
LOGDIR=${LM_SQLSMITH_LOGDIR:-$REPO/tmp_check/sqlsmith}
export LM_LOGDIR=$LOGDIR
unset LM_KEEP
# Crashes are logged at LOG level by the postmaster; ERRORs are logged with
# their SQLSTATE (%e) so that internal errors can be counted, without the
# statement (sqlsmith's errors are many and long).
export LM_EXTRA_CONF="log_line_prefix = '%m [%p] %e '
log_min_messages = error
log_min_error_statement = panic
restart_after_crash = on
max_connections = 20"
HARNESS=(bash "$REPO/test/harness.sh")

say() { printf '==> %s\n' "$*"; }
die() { printf 'sqlsmith.sh: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------ sqlsmith
if ! command -v sqlsmith >/dev/null; then
	say "installing sqlsmith (Debian package)"
	SUDO=()
	[[ $(id -u) == 0 ]] || SUDO=(sudo)
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sqlsmith </dev/null >/dev/null ||
		{ "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >/dev/null &&
			"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sqlsmith </dev/null >/dev/null; } ||
		die "could not install sqlsmith"
fi

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[[ -x $PG_CONFIG ]] || PG_CONFIG=$(command -v pg_config) || die "pg_config not found"
BINDIR=$("$PG_CONFIG" --bindir)
[[ -f $("$PG_CONFIG" --sharedir)/extension/lead_mgmt.control ]] ||
	die "lead_mgmt is not installed: make && make install"

# ------------------------------------------------------------ cluster
mkdir -p "$LOGDIR"
rm -f "$LOGDIR"/sqlsmith_*.log "$LOGDIR"/server.log "$LOGDIR"/setup.log
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -f $LM_TMP/server.log ]] && cp "$LM_TMP/server.log" "$LOGDIR/server.log" 2>/dev/null
	"${HARNESS[@]}" stop >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${HARNESS[@]}" start >"$LOGDIR/setup.log" 2>&1 || { cat "$LOGDIR/setup.log" >&2; die "cluster start failed"; }
export PGHOST=$LM_TMP PGPORT=$LM_PORT PGUSER=postgres
unset PGDATABASE PGSERVICE PGHOSTADDR PGPASSWORD PGOPTIONS
PSQL=("$BINDIR/psql" -X -q -v ON_ERROR_STOP=1)

# ------------------------------------------------------------ data set
say "creating lm_fuzz: extension, demo data set ($N_LEADS leads)"
"$BINDIR/createdb" lm_fuzz
{
	"${PSQL[@]}" -d lm_fuzz -c 'CREATE EXTENSION lead_mgmt'
	"${PSQL[@]}" -d lm_fuzz -v n_leads="$N_LEADS" -v seed=7 -f bench/demo.sql
} >>"$LOGDIR/setup.log" 2>&1 || { tail -n 30 "$LOGDIR/setup.log" >&2; die "loading the data set failed"; }

"${PSQL[@]}" -d lm_fuzz >>"$LOGDIR/setup.log" 2>&1 <<'SQL' || { tail -n 30 "$LOGDIR/setup.log" >&2; die "setup failed"; }
SET client_min_messages = warning;
-- the generator's helpers are not what we fuzz
DROP SCHEMA IF EXISTS lm_bench CASCADE;

-- some hostile but valid rows for the fuzzer's column references to pick up
SELECT lead_mgmt.capture(jsonb_build_object(
    'external_id', 'fuzz-' || g,
    'email', 'fuzz' || g || '@exämple.com',
    'first_name', repeat('Ω', g * 50),
    'company', $$Robert'); DROP TABLE students;--$$,
    'company_size', (ARRAY[0, -1, 2147483647, NULL])[1 + g % 4],
    'annual_revenue', (ARRAY[0, 999999999999.99, NULL, 1])[1 + g % 4],
    'attributes', jsonb_build_object('nested', jsonb_build_object('a', jsonb_build_array(1, 'two', NULL, 3.5e300)),
                                     'age', g, 'interests', jsonb_build_array('x', 'y'))))
  FROM generate_series(1, 20) g;
INSERT INTO lead_mgmt.segments (name, condition) VALUES
  ('fuzz nested', '{"any": [{"all": [{"field": "attributes.nested.a", "op": "contains", "value": 1},
                                     {"not": {"field": "company", "op": "matches", "value": "drop"}}]},
                            {"event": "email_opened", "within": "3 days", "min_count": 2, "max_count": 5}]}')
ON CONFLICT DO NOTHING;

-- what sqlsmith may call: a view named pg_proc, found before pg_catalog's
-- by the sessions' search_path (sqlsmith reads "pg_proc" unqualified)
CREATE SCHEMA sqlsmith_focus;
CREATE VIEW sqlsmith_focus.pg_proc_full AS
SELECT * FROM pg_catalog.pg_proc p
 WHERE p.proname NOT IN (
        'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile',
        'pg_promote', 'pg_sleep', 'pg_sleep_for', 'pg_sleep_until', 'lo_export', 'lo_import',
        'pg_log_backend_memory_contexts', 'pg_wal_replay_pause', 'pg_wal_replay_resume',
        'pg_stat_reset', 'pg_stat_reset_shared', 'pg_stat_reset_single_table_counters',
        'pg_stat_reset_single_function_counters', 'pg_stat_reset_slru',
        'pg_stat_reset_replication_slot', 'pg_stat_reset_subscription_stats',
        'pg_drop_replication_slot', 'pg_create_physical_replication_slot',
        'pg_create_logical_replication_slot', 'pg_replication_origin_create',
        'pg_switch_wal', 'pg_backup_start', 'pg_backup_stop', 'pg_create_restore_point',
        'pg_advisory_lock', 'pg_advisory_lock_shared', 'pg_advisory_xact_lock',
        'pg_advisory_xact_lock_shared', 'txid_current_snapshot')
   AND p.pronamespace IN ('pg_catalog'::regnamespace, 'lead_mgmt'::regnamespace);
CREATE VIEW sqlsmith_focus.pg_proc_focus AS
SELECT * FROM sqlsmith_focus.pg_proc_full p
 WHERE p.pronamespace = 'lead_mgmt'::regnamespace
    OR p.prokind IN ('a', 'w')
    OR p.proname IN (
        'jsonb_build_object', 'jsonb_build_array', 'to_jsonb', 'jsonb_set', 'jsonb_insert',
        'jsonb_strip_nulls', 'jsonb_object', 'jsonb_extract_path', 'jsonb_typeof',
        'jsonb_concat', 'jsonb_delete', 'jsonb_array_length', 'jsonb_in', 'row_to_json',
        'jsonb_path_query_first', 'jsonb_object_field', 'jsonb_array_element',
        'concat', 'concat_ws', 'repeat', 'lpad', 'rpad', 'lower', 'upper', 'substr',
        'replace', 'md5', 'format', 'chr', 'left', 'right', 'reverse', 'quote_literal',
        'btrim', 'split_part', 'translate', 'regexp_replace', 'textcat', 'text',
        'now', 'clock_timestamp', 'statement_timestamp', 'make_interval',
        'make_timestamptz', 'date_trunc', 'to_timestamp', 'age', 'justify_interval',
        'timestamptz_pl_interval', 'interval_mul', 'random', 'abs', 'int8', 'int4',
        'numeric', 'float8', 'power', 'mod', 'trunc', 'round', 'int8pl', 'int4mi',
        'array_append', 'array_cat', 'array_fill', 'array_length', 'cardinality',
        'string_to_array', 'array_to_string', 'numeric_in', 'interval_in');
SQL

focus_setup() { # $1 = focus | full: point the view sqlsmith reads at one of the two
	"${PSQL[@]}" -d lm_fuzz -c "CREATE OR REPLACE VIEW sqlsmith_focus.pg_proc AS SELECT * FROM sqlsmith_focus.pg_proc_$1" >/dev/null 2>&1 ||
		"${PSQL[@]}" -d lm_fuzz -c "DROP VIEW IF EXISTS sqlsmith_focus.pg_proc" \
			-c "CREATE VIEW sqlsmith_focus.pg_proc AS SELECT * FROM sqlsmith_focus.pg_proc_$1"
}

counts() {
	"$BINDIR/psql" -X -At -d postgres -c \
		"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'lm_fuzz'"
}
summary=$("$BINDIR/psql" -X -At -d lm_fuzz -c "SELECT format('%s leads, %s events, %s deals, %s reps, %s segments, %s touches',
  (SELECT count(*) FROM lead_mgmt.leads), (SELECT count(*) FROM lead_mgmt.events),
  (SELECT count(*) FROM lead_mgmt.deals), (SELECT count(*) FROM lead_mgmt.reps),
  (SELECT count(*) FROM lead_mgmt.segments), (SELECT count(*) FROM lead_mgmt.touches))")
say "data set: $summary"

# ------------------------------------------------------------ fuzz
phases=()
case $MODE in
	both) phases=(focus full) ;;
	*) phases=("$MODE") ;;
esac
per_phase=$((DURATION / ${#phases[@]}))
((per_phase > 0)) || per_phase=1
total_queries=0
for phase in "${phases[@]}"; do
	focus_setup "$phase"
	seed=${LM_SQLSMITH_SEED:-$(( $(date +%s) % 1000000 + ${#phase} ))}
	before=$(counts)
	say "phase $phase: sqlsmith for ${per_phase}s (seed $seed)"
	rc=0
	# SIGINT: sqlsmith stops and prints its statistics
	timeout -s INT -k 30 "$per_phase" sqlsmith --verbose --exclude-catalog --seed="$seed" \
		--target="host=$LM_TMP port=$LM_PORT dbname=lm_fuzz user=postgres application_name=sqlsmith options='-c search_path=sqlsmith_focus,pg_catalog'" \
		>"$LOGDIR/sqlsmith_$phase.log" 2>&1 </dev/null || rc=$?
	# sqlsmith's own count (--verbose prints "queries: N" as it goes and when
	# it stops); the server's transaction count is a fallback only: a crash
	# resets the statistics
	n=$(grep -a '^queries: [0-9]*$' "$LOGDIR/sqlsmith_$phase.log" | tail -n 1 | cut -d' ' -f2)
	if [[ -z $n ]]; then
		sleep 2
		after=$(counts)
		n=$(( ${after:-0} - ${before:-0} ))
	fi
	total_queries=$((total_queries + n))
	say "phase $phase: sqlsmith exit $rc, $n queries executed"
	if ((rc != 0 && rc != 124 && rc != 130)); then
		tail -n 20 "$LOGDIR/sqlsmith_$phase.log"
	fi
done

# ------------------------------------------------------------ verdict
# still up and consistent?
alive=ok
"$BINDIR/psql" -X -At -d lm_fuzz -c 'SELECT 1' >/dev/null 2>&1 || alive="server not answering"
cp "$LM_TMP/server.log" "$LOGDIR/server.log"
LOG=$LOGDIR/server.log
internal=$(grep -c ' XX000 ERROR:' "$LOG" || true)
crashes=$(grep -cE 'terminated by signal|was terminated by exception|PANIC:|TRAP:' "$LOG" || true)

echo
echo "======================================== sqlsmith summary"
echo "duration:          ${DURATION}s ($MODE)"
echo "queries executed:  $total_queries"
echo "server:            $alive"
echo "internal errors:   $internal (SQLSTATE XX000)"
if ((internal > 0)); then
	grep ' XX000 ERROR:' "$LOG" | sed -E 's/^.* XX000 ERROR: +//' | sort | uniq -c | sort -rn | head -n 20
fi
echo "crashes:           $crashes"
if ((crashes > 0)); then
	grep -E -A 2 'terminated by signal|was terminated by exception|PANIC:|TRAP:' "$LOG" | head -n 200
fi
echo "logs:              $LOGDIR"
[[ $crashes == 0 && $alive == ok ]]
