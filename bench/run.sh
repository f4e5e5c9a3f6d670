#!/usr/bin/env bash
# lead_mgmt benchmarks: every figure of DESIGN section 9 that bench/ covers,
# each with its baseline measured in the same run, written to bench/RESULTS.md.
#
#   bash bench/run.sh [quick|full]
#
#   quick  10x smaller sizes, 10 s pgbench runs, one run each: a smoke run (~2 min)
#   full   the DESIGN sizes (see RESULTS.md for what is scaled down), 30 s
#          pgbench runs, two runs each (~15-17 min on 2 cores)
#
# Steps: make && make install; a private copy of the PostgreSQL 15
# installation with the extension installed into it too (make install
# DESTDIR=...), so that another `make install` on this machine during the
# run cannot swap the code under test; a throwaway cluster started by
# test/harness.sh (LM_TMP=/tmp/lm_bench_cluster, LM_PORT=54401) with
# benchmark settings (fsync on, so that synchronous_commit = on means
# something); the benchmarks; RESULTS.md; the cluster is stopped and removed
# whatever happens.
#
#   1. bulk COPY of N events for N/10 leads through the whole pipeline (20
#      rules, 10 segments, 5 stages) vs the same COPY into an identical table
#      without triggers, and
#   2. vs the PL/pgSQL row-trigger reference (bench/plpgsql_reference.sql);
#   3. single-row INSERT with pgbench (4 clients), synchronous_commit off and
#      on: bare table, lead_mgmt.events, the reference;
#   4. full rescore after a rule change on large data;
#   5. segments: refresh_segments(), forced rebuild, condition change, and
#      the cost of 10 live segments on single-row inserts (10 vs 0 active);
#   6. backend memory across many single-statement inserts in one session.
#
# Environment (optional):
#   LM_BENCH_GIT_REV   build this commit (git archive) instead of the working
#                      tree, e.g. HEAD: immune to half-done edits of the tree
#   LM_BENCH_BIG_LEADS, LM_BENCH_BIG_EVENTS   size of the rescore/segment data
#   LM_BENCH_PGBENCH_SECS, LM_BENCH_PGBENCH_RUNS   pgbench duration and repetitions
#   LM_BENCH_KEEP=1    leave the cluster running at the end
#   PG_CONFIG          the PostgreSQL 15 to copy (default /usr/lib/postgresql/15/bin/pg_config)
#
# Progress goes to stdout; logs of each step to bench/out/.

set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
BENCH=$(dirname "$SELF")
REPO=$(cd "$BENCH/.." && pwd)
cd "$REPO"

MODE=${1:-quick}
case $MODE in
	quick)
		N_LEADS=10000 N_EVENTS=100000
		BIG_LEADS=${LM_BENCH_BIG_LEADS:-100000} BIG_EVENTS=${LM_BENCH_BIG_EVENTS:-1000000}
		PGB_SECS=${LM_BENCH_PGBENCH_SECS:-10} PGB_RUNS=${LM_BENCH_PGBENCH_RUNS:-1}
		MEM_N1=10000 MEM_N2=100000
		;;
	full)
		N_LEADS=100000 N_EVENTS=1000000
		BIG_LEADS=${LM_BENCH_BIG_LEADS:-1000000} BIG_EVENTS=${LM_BENCH_BIG_EVENTS:-10000000}
		PGB_SECS=${LM_BENCH_PGBENCH_SECS:-30} PGB_RUNS=${LM_BENCH_PGBENCH_RUNS:-2}
		MEM_N1=100000 MEM_N2=1000000
		;;
	*)
		sed -n '2,/^$/s/^# \{0,1\}//p' "$SELF" >&2
		exit 2
		;;
esac
PGB_CLIENTS=4

OUT=$BENCH/out
RESULTS_MD=$BENCH/RESULTS.md
PRIV=/tmp/lm_bench_pg
export LM_TMP=/tmp/lm_bench_cluster LM_PORT=54401 LM_LOGDIR=$OUT/harness
SYS_PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
unset PG_CONFIG

if [[ $(id -u) == 0 ]]; then SUDO=(); else SUDO=(sudo); fi

T_START=$SECONDS
LOADS=()
log() {
	local l
	l=$(cut -d' ' -f1 /proc/loadavg)
	LOADS+=("$l")
	printf '[%s +%4ds load %5s] %s\n' "$(date +%T)" "$((SECONDS - T_START))" "$l" "$*"
}
# share of the last 5 minutes in which some task waited for a CPU (PSI)
cpu_pressure() { sed -n 's/^some avg10=[^ ]* avg60=[^ ]* avg300=\([^ ]*\) .*/\1 %/p' /proc/pressure/cpu 2>/dev/null || true; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.sql "$OUT/results.tsv"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
PSI_BEFORE=$(cpu_pressure)
DATE_START=$(date -u '+%Y-%m-%d %H:%M UTC')
# every generated lead and event is placed relative to this instant
ANCHOR=$(date -u '+%Y-%m-%d %H:%M:%S+00')

# ------------------------------------------------------------------ results
declare -A R=()
rec() { R[$1]=$2; printf '%s\t%s\n' "$1" "$2" >>"$OUT/results.tsv"; }
# arithmetic with awk (floating point); prints the result
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ------------------------------------------------------------------ build
build() {
	local src=$REPO
	if [[ -n ${LM_BENCH_GIT_REV:-} ]]; then
		src=/tmp/lm_bench_src
		log "build: exporting $LM_BENCH_GIT_REV to $src"
		rm -rf "$src" && mkdir -p "$src"
		git -C "$REPO" archive "$LM_BENCH_GIT_REV" | tar -C "$src" -xf -
	fi
	log "build: make && make install (in $src)"
	make -C "$src" -s -j"$(nproc)" PG_CONFIG="$SYS_PG_CONFIG" >"$OUT/build.log" 2>&1 ||
		{ cat "$OUT/build.log" >&2; die "build failed"; }
	"${SUDO[@]}" make -C "$src" -s install PG_CONFIG="$SYS_PG_CONFIG" >>"$OUT/build.log" 2>&1 ||
		{ cat "$OUT/build.log" >&2; die "make install failed"; }

	# The private copy: the same binaries, relocated (PostgreSQL finds its
	# lib and share directories relative to its binaries).
	local libdir sharedir
	libdir=$("$SYS_PG_CONFIG" --pkglibdir)
	sharedir=$("$SYS_PG_CONFIG" --sharedir)
	[[ $libdir == /usr/lib/postgresql/15/lib && $sharedir == /usr/share/postgresql/15 ]] ||
		die "expected the Debian layout of PostgreSQL 15 (got $libdir, $sharedir)"
	log "build: private copy of PostgreSQL 15 in $PRIV with the extension installed"
	rm -rf "$PRIV"
	mkdir -p "$PRIV/usr/lib/postgresql" "$PRIV/usr/share/postgresql" "$PRIV/usr/include/postgresql"
	cp -a /usr/lib/postgresql/15 "$PRIV/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/15 "$PRIV/usr/share/postgresql/"
	ln -s /usr/include/postgresql/15 "$PRIV/usr/include/postgresql/15"
	chmod 755 "$PRIV"
	make -C "$src" -s install PG_CONFIG="$SYS_PG_CONFIG" DESTDIR="$PRIV" >>"$OUT/build.log" 2>&1 ||
		{ cat "$OUT/build.log" >&2; die "make install into $PRIV failed"; }
	export PG_CONFIG=$PRIV/usr/lib/postgresql/15/bin/pg_config
	BINDIR=$("$PG_CONFIG" --bindir)
	[[ $BINDIR == "$PRIV"/* ]] || die "the private copy is not relocatable ($BINDIR)"
	BUILD_DESC="working tree of $REPO at $(git -C "$REPO" rev-parse --short HEAD)"
	if [[ -n ${LM_BENCH_GIT_REV:-} ]]; then
		BUILD_DESC="commit $(git -C "$REPO" rev-parse --short "$LM_BENCH_GIT_REV") (git archive)"
	elif [[ -n $(git -C "$REPO" status --porcelain -- src install Makefile 2>/dev/null) ]]; then
		BUILD_DESC="$BUILD_DESC + uncommitted changes to src/install/Makefile"
	fi
}

# ------------------------------------------------------------------ cluster
CONF_LINES=(
	"shared_buffers = 1GB"
	"work_mem = 64MB"
	"maintenance_work_mem = 512MB"
	"max_wal_size = 8GB"
	"checkpoint_timeout = 30min"
	"jit = off"
	"fsync = on"
	"full_page_writes = on"
	"synchronous_commit = on"
	"max_connections = 50"
)
CLUSTER_UP=
start_cluster() {
	log "cluster: starting on $LM_TMP port $LM_PORT"
	LM_EXTRA_CONF=$(printf '%s\n' "${CONF_LINES[@]}") \
		bash "$REPO/test/harness.sh" start >"$OUT/cluster.log" 2>&1 ||
		{ cat "$OUT/cluster.log" >&2; die "cluster start failed"; }
	CLUSTER_UP=1
	export PGHOST=$LM_TMP PGPORT=$LM_PORT PGUSER=postgres
	unset PGDATABASE PGSERVICE PGHOSTADDR PGPASSWORD
	export PGOPTIONS="-c client_min_messages=warning"
}
stop_cluster() {
	[[ -n $CLUSTER_UP ]] || return 0
	if [[ -n ${LM_BENCH_KEEP:-} ]]; then
		log "LM_BENCH_KEEP set: cluster left running (PGHOST=$LM_TMP PGPORT=$LM_PORT PGUSER=postgres)"
		return 0
	fi
	log "cluster: stopping"
	bash "$REPO/test/harness.sh" stop >>"$OUT/cluster.log" 2>&1 || true
	CLUSTER_UP=
	rm -rf "$PRIV" /tmp/lm_bench_src
}
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	stop_cluster
	((rc == 0)) || printf 'bench/run.sh: failed (exit %s); logs in %s\n' "$rc" "$OUT" >&2
	exit "$rc"
}

# ------------------------------------------------------------------ SQL helpers
PSQL() { "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
q() { local db=$1; shift; PSQL -d "$db" -c "$*"; }
# timed DB SQL: runs SQL (several statements, each its own transaction unless
# grouped) in one session and prints the elapsed seconds of all of it.
timed() {
	local db=$1 sql=$2
	PSQL -d "$db" <<-EOF | tail -n1
		SELECT extract(epoch FROM clock_timestamp()) AS lm_t0 \gset
		$sql
		SELECT round((extract(epoch FROM clock_timestamp()) - :lm_t0)::numeric, 3);
	EOF
}
checkpoint() { q postgres 'CHECKPOINT' >/dev/null; }
# par2 DB SQL: runs SQL in two sessions at once, @K@ replaced by 0 and 1;
# prints the elapsed seconds until both are done.
par2() {
	local db=$1 sql=$2 t0 k pids=()
	t0=$(date +%s.%N)
	for k in 0 1; do
		PSQL -d "$db" -c "${sql//@K@/$k}" >"$OUT/par2_$k.log" 2>&1 &
		pids+=($!)
	done
	for k in 0 1; do
		wait "${pids[$k]}" || { cat "$OUT/par2_$k.log" >&2; die "session $k failed"; }
	done
	calc "$(date +%s.%N) - $t0"
}

# pgbench TABLE SYNC TAG: prints tps
pgbench_run() {
	local db=$1 table=$2 sync=$3 tag=$4 script out tps
	script=$OUT/insert_${table//./_}.sql
	[[ -f $script ]] || sed "s/@TABLE@/$table/" "$BENCH/pgbench/insert_event.sql.in" >"$script"
	out=$OUT/pgbench_$tag.log
	PGOPTIONS="$PGOPTIONS -c synchronous_commit=$sync" "$BINDIR/pgbench" -n -M prepared \
		-c "$PGB_CLIENTS" -j 2 -T "$PGB_SECS" -D nleads="$N_LEADS" -f "$script" "$db" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "pgbench $tag failed"; }
	grep -q '^number of failed transactions: 0 ' "$out" || { cat "$out" >&2; die "pgbench $tag: failed transactions"; }
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	[[ -n $tps ]] || { cat "$out" >&2; die "pgbench $tag: no tps"; }
	printf '%.0f' "$tps"
}

# ------------------------------------------------------------------ data
LEAD_COLS="external_id, email, first_name, last_name, company, job_title, industry,
           company_size, annual_revenue, country, region, city, channel, campaign,
           lead_magnet, attributes, created_at"

new_db() {
	local db=$1
	q postgres "DROP DATABASE IF EXISTS $db" >/dev/null
	q postgres "CREATE DATABASE $db" >/dev/null
	PSQL -d "$db" -c 'CREATE EXTENSION lead_mgmt' -f "$BENCH/setup.sql" >"$OUT/setup_$db.log" 2>&1 ||
		{ cat "$OUT/setup_$db.log" >&2; die "setup of $db failed"; }
}

# ------------------------------------------------------------------ 1 + 2: COPY
bench_copy() {
	local db=lm_bench csv=$LM_TMP/events.csv secs
	log "data: database $db: 20 rules, 10 segments, 5 stages; $N_LEADS leads"
	new_db "$db"
	secs=$(timed "$db" "INSERT INTO lead_mgmt.leads ($LEAD_COLS)
	                    SELECT * FROM lm_bench.gen_leads($N_LEADS, 42, '$ANCHOR'::timestamptz, '9 months', 'bench');")
	rec leads_insert_s "$secs"
	log "data: $N_LEADS leads inserted through the lead trigger in ${secs}s"
	q "$db" "INSERT INTO ref.leads (id, $LEAD_COLS) SELECT id, $LEAD_COLS FROM lead_mgmt.leads" >/dev/null
	log "data: generating $N_EVENTS events (time-ordered, every lead existing) into $csv"
	secs=$(timed "$db" "
		CREATE TABLE lm_bench.ev_stage AS
		SELECT l.id AS lead_id, e.event_type, e.occurred_at, e.properties
		  FROM lead_mgmt.leads AS l
		 CROSS JOIN LATERAL lm_bench.lead_events(42, '$ANCHOR'::timestamptz, l.external_id, l.created_at,
		                                         l.channel, l.company_size, l.lead_magnet, l.attributes) AS e
		 ORDER BY e.occurred_at, l.id, e.event_type
		 LIMIT $N_EVENTS;
		COPY (SELECT lead_id, event_type, occurred_at, properties,
		             'crm:' || lpad((row_number() OVER ())::text, 9, '0')
		        FROM lm_bench.ev_stage) TO '$csv' (FORMAT csv);")
	N_COPY=$(q "$db" "SELECT count(*) FROM lm_bench.ev_stage")
	rec copy_rows "$N_COPY"
	q "$db" "SELECT event_type, count(*) FROM lm_bench.ev_stage GROUP BY 1 ORDER BY 2 DESC" >"$OUT/event_mix.txt"
	q "$db" "DROP TABLE lm_bench.ev_stage" >/dev/null
	q "$db" "VACUUM ANALYZE" >/dev/null
	log "data: $N_COPY events generated and written in ${secs}s"

	local t cols="lead_id, event_type, occurred_at, properties, dedupe_key"
	copy_into() {
		checkpoint
		timed "$db" "COPY $1 ($cols) FROM '$csv' (FORMAT csv);"
	}
	t=$(copy_into lm_bench.events_bare); rec copy_bare1_s "$t"
	log "bench 1: COPY into the bare table:        ${t}s"
	t=$(copy_into lead_mgmt.events); rec copy_lm_s "$t"
	log "bench 1: COPY into lead_mgmt.events:      ${t}s"
	t=$(copy_into ref.events); rec copy_ref_s "$t"
	log "bench 2: COPY into the PL/pgSQL reference: ${t}s"
	q "$db" "TRUNCATE lm_bench.events_bare" >/dev/null
	t=$(copy_into lm_bench.events_bare); rec copy_bare2_s "$t"
	log "bench 1: COPY into the bare table again:  ${t}s"

	# What the pipeline did (sanity, and for the report)
	q "$db" "SELECT stage, count(*) FROM lead_mgmt.leads GROUP BY stage ORDER BY min(stage)" >"$OUT/stages_after_copy.txt"
	rec copy_history_rows "$(q "$db" "SELECT count(*) FROM lead_mgmt.stage_history")"
	rec copy_members "$(q "$db" "SELECT count(*) FROM lead_mgmt.segment_members")"
	log "vacuum analyze"
	q "$db" "VACUUM ANALYZE" >/dev/null
}

# ------------------------------------------------------------------ 3 + 5b: pgbench
bench_pgbench() {
	local db=lm_bench sync run t tps
	for sync in off on; do
		checkpoint
		for ((run = 1; run <= PGB_RUNS; run++)); do
			for t in bare lm ref; do
				case $t in
					bare) table=lm_bench.events_bare ;;
					lm) table=lead_mgmt.events ;;
					ref) table=ref.events ;;
				esac
				tps=$(pgbench_run "$db" "$table" "$sync" "${t}_sync${sync}_$run")
				rec "pgb_${t}_${sync}_$run" "$tps"
				log "bench 3: single-row INSERT, sync $sync, run $run, $t: $tps tps"
			done
		done
	done

	log "bench 5: deactivating the 10 segments"
	t=$(timed "$db" "UPDATE lead_mgmt.segments SET active = false;")
	rec seg_deactivate_s "$t"
	checkpoint
	for ((run = 1; run <= PGB_RUNS; run++)); do
		tps=$(pgbench_run "$db" lead_mgmt.events off "lm_noseg_syncoff_$run")
		rec "pgb_lmnoseg_off_$run" "$tps"
		log "bench 5: single-row INSERT, sync off, run $run, lead_mgmt with 0 active segments: $tps tps"
	done
	t=$(timed "$db" "UPDATE lead_mgmt.segments SET active = true;")
	rec seg_activate_small_s "$t"
	log "bench 5: reactivating the 10 segments over $N_LEADS leads: ${t}s"
}

# ------------------------------------------------------------------ 4 (small): retroactive rule change
bench_rule_change_small() {
	local db=lm_bench t
	t=$(timed "$db" "UPDATE lead_mgmt.scoring_rules SET points = 12 WHERE name = 'clicked an email';")
	rec rule_change_small_s "$t"
	rec rule_change_small_events "$(q "$db" "SELECT count(*) FROM lead_mgmt.events")"
	log "bench 4: rule change rescoring $N_LEADS leads in its transaction: ${t}s"
}

# ------------------------------------------------------------------ 6: memory
bench_memory() {
	local db=lm_bench out=$OUT/memory.log
	log "bench 6: $MEM_N2 single-statement inserts in one session (RSS at 0, $MEM_N1, $MEM_N2)"
	PSQL -d "$db" >"$out" 2>&1 <<-EOF || { cat "$out" >&2; die "memory benchmark failed"; }
		SELECT 'pid', pg_backend_pid();
		SELECT 'rss0', lm_bench.proc_status_kb('VmRSS'), lm_bench.proc_status_kb('RssAnon');
		SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
		CALL lm_bench.insert_loop($MEM_N1, $N_LEADS, 1);
		SELECT 'rss1', lm_bench.proc_status_kb('VmRSS'), lm_bench.proc_status_kb('RssAnon'),
		       round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 2);
		SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
		CALL lm_bench.insert_loop($((MEM_N2 - MEM_N1)), $N_LEADS, 2);
		SELECT 'rss2', lm_bench.proc_status_kb('VmRSS'), lm_bench.proc_status_kb('RssAnon'),
		       round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 2);
		SELECT 'hwm', lm_bench.proc_status_kb('VmHWM');
	EOF
	local k
	read -r _ R0 A0 < <(grep '^rss0|' "$out" | tr '|' ' ')
	read -r _ R1 A1 S1 < <(grep '^rss1|' "$out" | tr '|' ' ')
	read -r _ R2 A2 S2 < <(grep '^rss2|' "$out" | tr '|' ' ')
	read -r _ HWM < <(grep '^hwm|' "$out" | tr '|' ' ')
	for k in R0 A0 R1 A1 S1 R2 A2 S2 HWM; do rec "mem_$k" "${!k}"; done
	log "bench 6: VmRSS ${R0} -> ${R1} -> ${R2} kB; RssAnon ${A0} -> ${A1} -> ${A2} kB"
}

# ------------------------------------------------------------------ 4 + 5a: big data
bench_big() {
	local db=lm_big t
	log "data: database $db: $BIG_LEADS leads (through the lead trigger, two sessions)"
	new_db "$db"
	# Two sessions each insert every other generated lead (2 cores).
	t=$(par2 "$db" "INSERT INTO lead_mgmt.leads ($LEAD_COLS)
	                SELECT g.* FROM lm_bench.gen_leads($BIG_LEADS, 7, '$ANCHOR'::timestamptz, '9 months', 'big') AS g
	                 WHERE right(g.external_id, 1)::int % 2 = @K@;")
	rec big_leads_insert_s "$t"
	log "data: $BIG_LEADS leads in ${t}s"
	# The events are loaded the way a restore does (triggers quiet), by two
	# sessions (leads of even and odd id); a first rescore() computes every
	# lead from them.
	log "data: $BIG_EVENTS events (generated, loaded with session_replication_role = replica, two sessions)"
	t=$(par2 "$db" "SET session_replication_role = replica;
		INSERT INTO lead_mgmt.events (lead_id, event_type, occurred_at, properties)
		SELECT l.id, e.event_type, e.occurred_at, e.properties
		  FROM lead_mgmt.leads AS l
		 CROSS JOIN LATERAL lm_bench.lead_events(7, '$ANCHOR'::timestamptz, l.external_id, l.created_at,
		                                         l.channel, l.company_size, l.lead_magnet, l.attributes) AS e
		 WHERE l.id % 2 = @K@
		 LIMIT $((BIG_EVENTS / 2));")
	BIG_N_EVENTS=$(q "$db" "SELECT count(*) FROM lead_mgmt.events")
	rec big_events "$BIG_N_EVENTS"
	rec big_events_load_s "$t"
	log "data: $BIG_N_EVENTS events in ${t}s; vacuum analyze"
	t=$(timed "$db" "VACUUM ANALYZE;")
	rec big_vacuum_s "$t"
	checkpoint
	t=$(timed "$db" "SELECT lead_mgmt.rescore();")
	rec rescore_initial_s "$t"
	log "bench 4: first lead_mgmt.rescore() (computes every lead from the loaded events): ${t}s"
	q "$db" "VACUUM ANALYZE lead_mgmt.leads" >/dev/null
	q "$db" "VACUUM ANALYZE lead_mgmt.segment_members" >/dev/null

	checkpoint
	log "bench 4: rule change (deferred), then lead_mgmt.rescore() of $BIG_LEADS leads / $BIG_N_EVENTS events"
	t=$(timed "$db" "SET lead_mgmt.defer_rescore = on;
		UPDATE lead_mgmt.scoring_rules SET points = 12 WHERE name = 'clicked an email';
		SELECT lead_mgmt.rescore();")
	rec rescore_s "$t"
	log "bench 4: rescore after the rule change: ${t}s"
	q "$db" "SELECT stage, count(*) FROM lead_mgmt.leads GROUP BY stage ORDER BY min(stage)" >"$OUT/stages_big.txt"
	q "$db" "VACUUM ANALYZE lead_mgmt.leads" >/dev/null
	rec big_members "$(q "$db" "SELECT count(*) FROM lead_mgmt.segment_members")"

	checkpoint
	t=$(timed "$db" "SELECT lead_mgmt.refresh_segments();")
	rec seg_refresh_s "$t"
	log "bench 5: refresh_segments() with nothing to change: ${t}s"
	t=$(timed "$db" "DELETE FROM lead_mgmt.segment_members;")
	rec seg_delete_s "$t"
	checkpoint
	t=$(timed "$db" "SELECT lead_mgmt.refresh_segments();")
	rec seg_rebuild_s "$t"
	rec seg_rebuild_members "$(q "$db" "SELECT count(*) FROM lead_mgmt.segment_members")"
	log "bench 5: forced rebuild (segment_members emptied, then refresh_segments()): ${t}s"
	checkpoint
	t=$(timed "$db" "UPDATE lead_mgmt.segments
	                    SET condition = '{\"all\": [{\"field\": \"score\", \"op\": \">=\", \"value\": 40},
	                                               {\"not\": {\"field\": \"stage\", \"op\": \">=\", \"value\": \"customer\"}}]}'
	                  WHERE name = 'hot, not yet customers';")
	rec seg_update_s "$t"
	log "bench 5: UPDATE of one segment's condition: ${t}s"
	q "$db" "SELECT s.name, count(m.lead_id) FROM lead_mgmt.segments s
	         LEFT JOIN lead_mgmt.segment_members m ON m.segment_id = s.id GROUP BY s.name ORDER BY s.name" \
		>"$OUT/segments_big.txt"
	q "$db" "SELECT pg_size_pretty(pg_database_size(current_database()))" >"$OUT/size_big.txt"
}

# ------------------------------------------------------------------ report
write_results() {
	local f=$RESULTS_MD
	local n_big_l=$BIG_LEADS n_big_e=${R[big_events]}
	local cpu mem pgver load_after
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
	pgver=$(q postgres "SELECT version()")
	load_after=$(cut -d' ' -f1-3 /proc/loadavg)

	# --- derived figures
	local bare_s lm_s ref_s bare_rps lm_rps ref_rps r_copy r_ref
	bare_s=$(calc "(${R[copy_bare1_s]} + ${R[copy_bare2_s]}) / 2")
	lm_s=${R[copy_lm_s]} ref_s=${R[copy_ref_s]}
	bare_rps=$(calc "${R[copy_rows]} / $bare_s" 0)
	lm_rps=$(calc "${R[copy_rows]} / $lm_s" 0)
	ref_rps=$(calc "${R[copy_rows]} / $ref_s" 0)
	r_copy=$(calc "$bare_s / $lm_s" 2)
	r_ref=$(calc "$ref_s / $lm_s" 2)

	local sync t run vals m
	declare -A MED=() BOTH=()
	for sync in off on; do
		for t in bare lm ref; do
			vals=()
			for ((run = 1; run <= PGB_RUNS; run++)); do vals+=("${R[pgb_${t}_${sync}_$run]}"); done
			MED[${t}_$sync]=$(median "${vals[@]}")
			BOTH[${t}_$sync]=$(IFS=/; echo "${vals[*]}")
		done
	done
	vals=()
	for ((run = 1; run <= PGB_RUNS; run++)); do vals+=("${R[pgb_lmnoseg_off_$run]}"); done
	MED[noseg]=$(median "${vals[@]}")
	BOTH[noseg]=$(IFS=/; echo "${vals[*]}")

	local r_off r_ref_off r_ref_on r_on seg_cost_us
	r_off=$(calc "${MED[lm_off]} / ${MED[bare_off]}" 2)
	r_on=$(calc "${MED[lm_on]} / ${MED[bare_on]}" 2)
	r_ref_off=$(calc "${MED[lm_off]} / ${MED[ref_off]}" 2)
	r_ref_on=$(calc "${MED[lm_on]} / ${MED[ref_on]}" 2)
	# per insert, in machine time (the clients keep every core busy): cores / tps
	seg_cost_us=$(calc "1e6 * $(nproc) / ${MED[lm_off]} - 1e6 * $(nproc) / ${MED[noseg]}" 0)

	local scale_l scale_e rescore_extra rescore_1m rebuild_1m refresh_1m update_1m
	scale_e=$(calc "10000000 / $n_big_e" 3)
	scale_l=$(calc "1000000 / $n_big_l" 3)
	rescore_1m=$(calc "${R[rescore_s]} * $scale_e" 1)
	rebuild_1m=$(calc "${R[seg_rebuild_s]} * $scale_l" 1)
	refresh_1m=$(calc "${R[seg_refresh_s]} * $scale_l" 1)
	update_1m=$(calc "${R[seg_update_s]} * $scale_l" 1)

	local mem_growth_anon mem_growth_rss mem_growth_anon_late
	mem_growth_anon=$((R[mem_A2] - R[mem_A0]))
	mem_growth_anon_late=$((R[mem_A2] - R[mem_A1]))
	mem_growth_rss=$((R[mem_R2] - R[mem_R0]))

	met() { if awk "BEGIN { exit !($1) }"; then echo "**met**"; else echo "**not met**"; fi; }
	local scaled_note="" rescore_fig="**${R[rescore_s]} s**" rebuild_fig="**${R[seg_rebuild_s]} s**"
	if [[ $n_big_l != 1000000 || $n_big_e != 10000000 ]]; then
		scaled_note="measured on $n_big_l leads / $n_big_e events, extrapolated linearly to 1M / 10M: "
		rescore_fig="${scaled_note}${R[rescore_s]} s → **$rescore_1m s**"
		rebuild_fig="${scaled_note}${R[seg_rebuild_s]} s → **$rebuild_1m s**"
	fi

	{
		echo "# lead_mgmt benchmark results"
		echo
		echo "Generated by \`bash bench/run.sh $MODE\` on $DATE_START (wall time $(((SECONDS - T_START) / 60)) min $(((SECONDS - T_START) % 60)) s)."
		echo "Every ratio compares figures measured in this run, on this machine."
		if [[ $MODE == quick ]]; then
			echo
			echo "> **quick mode**: a smoke run at 10x smaller sizes and ${PGB_SECS} s pgbench runs, one each."
			echo "> The targets are stated for the full sizes: run \`bash bench/run.sh full\`."
		fi
		echo
		echo "## Machine and settings"
		echo
		echo "| | |"
		echo "|---|---|"
		echo "| CPU | $cpu, $(nproc) cores (nproc) |"
		echo "| memory | $mem |"
		echo "| PostgreSQL | $pgver |"
		echo "| extension | $BUILD_DESC |"
		echo "| load average (1/5/15 min) | $LOAD_BEFORE at the start, $load_after at the end; 1-min load at each step from $(printf '%s\n' "${LOADS[@]}" | sort -g | head -n1) to $(printf '%s\n' "${LOADS[@]}" | sort -g | tail -n1) (the machine is shared with other sessions: on $(nproc) cores, a load above the benchmark's own clients means it competed for CPU) |"
		echo "| CPU pressure (PSI, some, avg300) | ${PSI_BEFORE:-n/a} at the start, $(cpu_pressure) at the end |"
		echo "| cluster | throwaway, \`test/harness.sh start\`, unix socket; $(printf '`%s`, ' "${CONF_LINES[@]}" | sed 's/, $//') (\`synchronous_commit\` set per pgbench run); autovacuum on |"
		echo
		echo "## Summary"
		echo
		echo "| # | figure | lead_mgmt | baseline (same run) | ratio | DESIGN target | |"
		echo "|---|---|---|---|---|---|---|"
		echo "| 1 | \`COPY\` of ${R[copy_rows]} events for $N_LEADS leads, 20 rules, 10 segments, 5 stages | ${lm_s} s = $lm_rps rows/s | bare table: ${bare_s} s = $bare_rps rows/s | $r_copy of bare | ≥ 0.5 | $(met "$r_copy >= 0.5") |"
		echo "| 2 | same \`COPY\` vs the PL/pgSQL reference | $lm_rps rows/s | reference: ${ref_s} s = $ref_rps rows/s | ${r_ref}× faster | ≥ 3× | $(met "$r_ref >= 3") |"
		echo "| 3a | single-row \`INSERT\`, $PGB_CLIENTS clients, \`synchronous_commit = off\` | ${MED[lm_off]} tps | bare: ${MED[bare_off]} tps | $r_off of bare | ≥ 0.5 | $(met "$r_off >= 0.5") |"
		echo "| 3b | same, vs the PL/pgSQL reference | ${MED[lm_off]} tps | reference: ${MED[ref_off]} tps | ${r_ref_off}× | ≥ 1.5× | $(met "$r_ref_off >= 1.5") |"
		echo "| 3c | single-row \`INSERT\`, $PGB_CLIENTS clients, \`synchronous_commit = on\` | ${MED[lm_on]} tps | bare: ${MED[bare_on]} tps | $r_on of bare | ≥ 0.85 | $(met "$r_on >= 0.85") |"
		echo "| 4 | full rescore after a rule change, 1M leads / 10M events | $rescore_fig | — | — | < 60 s | $(met "$rescore_1m < 60") |"
		echo "| 5a | segment rebuild, 10 segments, 1M leads (\`segment_members\` emptied, then \`refresh_segments()\`) | $rebuild_fig | — | — | < 20 s | $(met "$rebuild_1m < 20") |"
		echo "| 5b | cost of 10 live segments on single-row inserts (sync off) | ${MED[lm_off]} tps with 10 active | ${MED[noseg]} tps with 0 active | $(calc "${MED[lm_off]} / ${MED[noseg]}" 2) of the 0-active tps (≈ $seg_cost_us µs more CPU per insert, from $(nproc) cores / tps; within noise when near 1) | — (issue 3: report) | |"
		echo "| 6 | backend memory across $MEM_N2 single-statement event inserts in one session | private memory (RssAnon) $(printf '%+d' "$mem_growth_anon") kB overall, $(printf '%+d' "$mem_growth_anon_late") kB from $MEM_N1 to $MEM_N2 inserts | — | — | no growth (bounded rule cache) | $(met "$mem_growth_anon_late < 1024") |"
		echo
		echo "## 1–2. Bulk \`COPY\`"
		echo
		echo "One \`COPY ... FROM\` a server-side CSV file of ${R[copy_rows]} events (written once with \`COPY ... TO\`: the realistic mix of \`bench/generate.sql\`, in time order, every lead existing, a \`dedupe_key\` on every row) for $N_LEADS leads, into:"
		echo
		echo "- **bare**: \`lm_bench.events_bare\`, the same columns, primary key, unique \`dedupe_key\` and \`(lead_id, occurred_at)\` index, no trigger — twice (before and after the others: ${R[copy_bare1_s]} s and ${R[copy_bare2_s]} s; the mean is used);"
		echo "- **lead_mgmt**: \`lead_mgmt.events\` with 20 scoring rules (\`load_example_rules()\` and 10 more: caps, properties filters, windows, engagement and fit conditions), 10 segments and the 5 shipped stages: ${lm_s} s. Afterwards: ${R[copy_history_rows]} stage changes recorded, ${R[copy_members]} segment memberships;"
		echo "- **reference**: \`ref.events\`, the row-level PL/pgSQL trigger of \`bench/plpgsql_reference.sql\` (13 event rules without window, 2 score thresholds; no conditions, windows, segments or history): ${ref_s} s."
		echo
		echo "A \`CHECKPOINT\` precedes each \`COPY\`. Leads ($N_LEADS, inserted through the lead trigger with rules and segments in place) took ${R[leads_insert_s]} s."
		echo
		echo "## 3. Single-row \`INSERT\` (pgbench)"
		echo
		echo "\`pgbench -n -M prepared -c $PGB_CLIENTS -j 2 -T $PGB_SECS\`, script \`bench/pgbench/insert_event.sql.in\`: one event per transaction for a random lead among $N_LEADS, from a 20-slot mix of types and properties (6 of 20 score nothing, like \`email_sent\`), \`occurred_at = now()\`. $PGB_RUNS run(s) of each, every run going bare, lead_mgmt, reference in turn, a \`CHECKPOINT\` before each \`synchronous_commit\` setting; the median (each run in parentheses)."
		echo
		echo "| \`synchronous_commit\` | bare tps | lead_mgmt tps | reference tps | lead_mgmt / bare | lead_mgmt / reference |"
		echo "|---|---|---|---|---|---|"
		echo "| off | ${MED[bare_off]} (${BOTH[bare_off]}) | ${MED[lm_off]} (${BOTH[lm_off]}) | ${MED[ref_off]} (${BOTH[ref_off]}) | $r_off | $r_ref_off |"
		echo "| on | ${MED[bare_on]} (${BOTH[bare_on]}) | ${MED[lm_on]} (${BOTH[lm_on]}) | ${MED[ref_on]} (${BOTH[ref_on]}) | $r_on | $r_ref_on |"
		echo
		echo "## 4. Full rescore"
		echo
		echo "Database of $n_big_l leads (inserted through the lead trigger by two sessions: ${R[big_leads_insert_s]} s) and $n_big_e generated events (loaded by two sessions with triggers quiet, \`session_replication_role = replica\`, as a restore does: ${R[big_events_load_s]} s; then \`VACUUM ANALYZE\`: ${R[big_vacuum_s]} s)."
		echo "A first \`SELECT lead_mgmt.rescore()\` computes every lead from the loaded events (every lead gets its stage history, segments and state written): ${R[rescore_initial_s]} s."
		echo "Then, with \`lead_mgmt.defer_rescore = on\`, one rule's points change (\`clicked an email\`: 10 → 12) and \`SELECT lead_mgmt.rescore()\` recomputes every lead from its events: **${R[rescore_s]} s** — the figure."
		if [[ -n $scaled_note ]]; then
			echo "Scaled down to fit the run's time budget on this machine; the rescore reads every event and writes every lead, so it is extrapolated linearly in events: ${R[rescore_s]} s × $scale_e = $rescore_1m s for 10M events."
		fi
		echo
		echo "Smaller data, not deferred: \`UPDATE lead_mgmt.scoring_rules SET points = ...\` on the $N_LEADS-lead database (${R[rule_change_small_events]} events at that point) rescored every lead in its own transaction in ${R[rule_change_small_s]} s."
		echo
		echo "## 5. Segments"
		echo
		echo "10 segments (\`bench/setup.sql\`): demographic (attributes), psychographic (interest arrays), geographic, firmographic, a windowed behaviour, event counts with absence, lead magnet with absence, score with stage, stage with channel and campaign regex. On the $n_big_l-lead database after the rescore (${R[big_members]} memberships):"
		echo
		echo "| operation | seconds | per 1M leads |"
		echo "|---|---|---|"
		echo "| \`refresh_segments()\`, nothing to change (reads every lead once) | ${R[seg_refresh_s]} | $refresh_1m |"
		echo "| forced rebuild: \`DELETE FROM segment_members\` (${R[seg_delete_s]} s, not counted), then \`refresh_segments()\` re-inserting ${R[seg_rebuild_members]} memberships | ${R[seg_rebuild_s]} | $rebuild_1m |"
		echo "| \`UPDATE lead_mgmt.segments SET condition = ...\` of one segment (re-evaluates every lead in the transaction) | ${R[seg_update_s]} | $update_1m |"
		echo
		echo "On the $N_LEADS-lead database: deactivating the 10 segments took ${R[seg_deactivate_s]} s, reactivating (filling them again) ${R[seg_activate_small_s]} s."
		echo "Single-row inserts, sync off, lead_mgmt with 10 active segments: ${MED[lm_off]} tps (${BOTH[lm_off]}, from section 3); with 0 active: ${MED[noseg]} tps (${BOTH[noseg]})."
		echo
		echo "## 6. Backend memory"
		echo
		echo "One psql session on the $N_LEADS-lead database; \`CALL lm_bench.insert_loop(n)\` runs n single-row \`INSERT\` statements into \`lead_mgmt.events\` (each fires the triggers; a \`COMMIT\` every 10,000), random leads, the same event mix. \`/proc/<pg_backend_pid()>/status\` read through \`pg_read_file('/proc/self/status')\`:"
		echo
		echo "| after | inserts/s | VmRSS kB | RssAnon kB (private) |"
		echo "|---|---|---|---|"
		echo "| 0 inserts | | ${R[mem_R0]} | ${R[mem_A0]} |"
		echo "| $MEM_N1 | $(calc "$MEM_N1 / ${R[mem_S1]}" 0) | ${R[mem_R1]} | ${R[mem_A1]} |"
		echo "| $MEM_N2 | $(calc "($MEM_N2 - $MEM_N1) / ${R[mem_S2]}" 0) | ${R[mem_R2]} | ${R[mem_A2]} |"
		echo
		echo "VmRSS also counts the pages of \`shared_buffers\` the backend has touched ($(printf '%+d' "$mem_growth_rss") kB overall), which grows with the data it reads and is not a leak; the private memory (RssAnon) is the figure to watch. Peak VmHWM: ${R[mem_HWM]} kB."
		echo
		echo "## Reproduce"
		echo
		echo '```bash'
		echo "bash bench/run.sh $MODE"
		echo '```'
		echo
		echo "Raw figures: \`bench/out/results.tsv\`; logs of each step: \`bench/out/\`."
	} >"$f"
	log "wrote $f"
}

# ------------------------------------------------------------------ main
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "lead_mgmt benchmarks, $MODE mode: COPY $N_EVENTS events / $N_LEADS leads; pgbench ${PGB_RUNS}x${PGB_SECS}s; rescore/segments on $BIG_LEADS leads / $BIG_EVENTS events; memory over $MEM_N2 inserts"
build
start_cluster
bench_copy
bench_pgbench
bench_rule_change_small
bench_memory
q postgres "DROP DATABASE lm_bench" >/dev/null
bench_big
write_results
stop_cluster
log "done in $(((SECONDS - T_START) / 60)) min $(((SECONDS - T_START) % 60)) s"
