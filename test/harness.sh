#!/usr/bin/env bash
# lead_mgmt test and demo harness.
#
#   bash test/harness.sh deps     install missing Debian packages (apt-get; sudo when not root)
#   bash test/harness.sh build    make clean && make WERROR=1 && make install
#   bash test/harness.sh start    start a throwaway cluster (left running; prints its env)
#   bash test/harness.sh stop     stop it and remove its directory
#   bash test/harness.sh restart  restart it (fast shutdown): empty shared buffers, same data
#   bash test/harness.sh env      print the export lines for the throwaway cluster
#   bash test/harness.sh test     deps, build, start, every suite, stop; summary at the end
#   bash test/harness.sh demo     deps, build, start, load bench/demo.sql, stop
#   bash test/harness.sh psql [ARGS]   start a cluster, open psql on database lm_dev, stop on exit
#   bash test/harness.sh suite-{regress,isolation,pgtap,tap,cppcheck,tidy}
#                                 one suite against a running throwaway cluster
#   bash test/harness.sh suite-sqlsmith
#                                 optional, not in the default LM_SUITES: fuzz with
#                                 sqlsmith for LM_SQLSMITH_SECONDS (default 120) on a
#                                 cluster of its own (test/sqlsmith.sh); fails on a crash.
#                                 In a run: LM_SUITES="sqlsmith" bash test/harness.sh test
#
# Environment (all optional):
#   LM_TMP       cluster directory: data dir, unix socket, server log
#                (default /tmp/lead_mgmt_test_cluster; keep it short: socket paths are < 108 bytes)
#   LM_PORT      port of the throwaway cluster (default 54329).  No TCP is opened
#                (listen_addresses = ''); the port only names the socket file.
#   LM_USER      unprivileged user that owns the clusters when run as root (default lmtest)
#   LM_TAPDIR    work dir of the TAP suite (default <LM_TMP>_tap), emptied at its start
#   LM_LOGDIR    where logs are kept after a run (default <repo>/tmp_check/harness)
#   LM_SUITES    suites run by `test`, in order (default "regress isolation pgtap tap cppcheck tidy")
#   LM_TAP_TESTS the TAP files the tap suite runs (default test/t/*.pl; a glob, e.g. test/t/020*)
#   LM_SUITE_TIMEOUT  seconds per suite before it is killed and counted failed (default 300)
#   LM_SQLSMITH_SECONDS  how long the optional sqlsmith suite fuzzes (default 120; keep it
#                below LM_SUITE_TIMEOUT minus a minute of setup)
#   LM_EXTRA_CONF     extra postgresql.conf lines for the throwaway cluster (e.g. for pg_cron)
#   LM_KEEP=1    leave the cluster (and the TAP work dir) in place at the end of test/demo/psql
#   PG_CONFIG    pg_config to build and test with (default /usr/lib/postgresql/15/bin/pg_config)
#
# Clients started by the harness see PGHOST=<LM_TMP> PGPORT=<LM_PORT> PGUSER=postgres.

set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
cd "$REPO"

PG_MAJOR=15
EXTENSION=lead_mgmt
LM_TMP=${LM_TMP:-/tmp/lead_mgmt_test_cluster}
LM_TMP=${LM_TMP%/}
LM_PORT=${LM_PORT:-54329}
LM_USER=${LM_USER:-lmtest}
LM_LOGDIR=${LM_LOGDIR:-$REPO/tmp_check/harness}
LM_SUITES=${LM_SUITES:-regress isolation pgtap tap cppcheck tidy}
LM_SUITE_TIMEOUT=${LM_SUITE_TIMEOUT:-300}
LM_EXTRA_CONF=${LM_EXTRA_CONF:-}
LM_KEEP=${LM_KEEP:-}
LM_TAPDIR=${LM_TAPDIR:-${LM_TMP}_tap}
LM_TAPDIR=${LM_TAPDIR%/}
DATA=$LM_TMP/data
SERVER_LOG=$LM_TMP/server.log

DEB_PACKAGES=(
	build-essential perl
	"postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
	"postgresql-$PG_MAJOR-pgtap" libtap-parser-sourcehandler-pgtap-perl
	libipc-run-perl "postgresql-$PG_MAJOR-cron" cppcheck clang-tidy
)

if [[ $(id -u) == 0 ]]; then IS_ROOT=1; SUDO=(); else IS_ROOT=; SUDO=(sudo); fi

say()  { printf '==> %s\n' "$*"; }
warn() { printf 'harness: %s\n' "$*" >&2; }
die()  { warn "$*"; exit 1; }

# ---------------------------------------------------------------- helpers

# pg_config and the paths derived from it; resolved lazily (deps may install it).
resolve_pg() {
	[[ -n ${BINDIR:-} ]] && return 0
	if [[ -z ${PG_CONFIG:-} ]]; then
		if [[ -x /usr/lib/postgresql/$PG_MAJOR/bin/pg_config ]]; then
			PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
		else
			PG_CONFIG=$(command -v pg_config) ||
				die "pg_config not found: run 'bash test/harness.sh deps' first"
		fi
	fi
	export PG_CONFIG
	BINDIR=$("$PG_CONFIG" --bindir)
	PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
	INCLUDEDIR_SERVER=$("$PG_CONFIG" --includedir-server)
	PGXS_DIR=$PKGLIBDIR/pgxs
	local v
	v=$("$PG_CONFIG" --version)
	[[ $v == "PostgreSQL $PG_MAJOR."* ]] || warn "expected PostgreSQL $PG_MAJOR, $PG_CONFIG says: $v"
}

# Run a command as the owner of the throwaway clusters: LM_USER when we are
# root (initdb and postgres refuse to run as root), ourselves otherwise.
# cwd is / so that the owner never needs access to the caller's directory.
as_owner() {
	if [[ -n $IS_ROOT ]]; then
		(cd / && runuser -u "$LM_USER" -- "$@")
	else
		(cd / && "$@")
	fi
}

ensure_owner_user() {
	[[ -n $IS_ROOT ]] || return 0
	if ! id -u "$LM_USER" >/dev/null 2>&1; then
		say "creating unprivileged user $LM_USER for the test clusters"
		useradd --system --create-home "$LM_USER"
	fi
}

client_env() {
	export PGHOST=$LM_TMP PGPORT=$LM_PORT PGUSER=postgres
	unset PGDATABASE PGSERVICE PGHOSTADDR PGPASSWORD
}

print_env() {
	printf 'export PGHOST=%q PGPORT=%q PGUSER=postgres\n' "$LM_TMP" "$LM_PORT"
}

# ---------------------------------------------------------------- deps

cmd_deps() {
	local missing=() p
	for p in "${DEB_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		say "deps: all Debian packages present"
		return 0
	fi
	if [[ -z $IS_ROOT ]] && ! command -v sudo >/dev/null; then
		die "deps: missing ${missing[*]}, and sudo is not installed (run as root)"
	fi
	say "deps: installing ${missing[*]}"
	local log
	log=$(mktemp /tmp/lm_apt.XXXXXX)
	if ! { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			"${missing[@]}"; } </dev/null >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		die "deps: apt-get failed"
	fi
	rm -f "$log"
	say "deps: installed"
}

# ---------------------------------------------------------------- build

cmd_build() {
	resolve_pg
	say "build: make clean && make WERROR=1 && make install"
	make -s clean PG_CONFIG="$PG_CONFIG"
	make -j"$(nproc)" WERROR=1 PG_CONFIG="$PG_CONFIG"
	"${SUDO[@]}" make -s install PG_CONFIG="$PG_CONFIG"
}

# ---------------------------------------------------------------- cluster

# Stop whatever an earlier (possibly crashed) run left in LM_TMP, then remove it.
cluster_remove() {
	[[ -e $LM_TMP ]] || return 0
	if [[ -f $DATA/postmaster.pid ]]; then
		local pid
		pid=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)
		if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
			say "stopping the server left in $LM_TMP (pid $pid)"
			if [[ -n $IS_ROOT ]]; then
				(cd / && runuser -u "$(stat -c %U "$DATA")" -- \
					"$BINDIR/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop) >/dev/null 2>&1 || true
			else
				"$BINDIR/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
			fi
			if kill -0 "$pid" 2>/dev/null &&
				tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DATA"; then
				kill -KILL "$pid" 2>/dev/null || true
				sleep 1
			fi
		fi
	fi
	rm -rf "$LM_TMP" || die "cannot remove $LM_TMP (left by another user?); remove it or set LM_TMP"
}

cluster_start() {
	resolve_pg
	ensure_owner_user
	((${#LM_TMP} + 20 < 108)) || die "LM_TMP is too long for a unix socket path: $LM_TMP"
	cluster_remove
	mkdir -p "$LM_TMP"
	if [[ -n $IS_ROOT ]]; then
		chown "$LM_USER:" "$LM_TMP"
		chmod 755 "$LM_TMP"
	else
		chmod 700 "$LM_TMP"
	fi

	local owner=$LM_USER
	[[ -n $IS_ROOT ]] || owner=$(id -un)
	say "initdb in $DATA (owner $owner)"
	# --no-locale: C collation and English messages, so expected output is
	# the same on every machine; UTF8 so that any text can be stored.
	if ! as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust \
		--no-locale --encoding=UTF8 --no-sync >"$LM_TMP/initdb.log" 2>&1; then
		cat "$LM_TMP/initdb.log" >&2
		die "initdb failed"
	fi
	cat >>"$DATA/postgresql.conf" <<-EOF

		# ---- lead_mgmt test harness
		listen_addresses = ''
		port = $LM_PORT
		unix_socket_directories = '$LM_TMP'
		shared_preload_libraries = ''
		fsync = off
		full_page_writes = off
		synchronous_commit = off
		max_prepared_transactions = 10
		timezone = 'UTC'
		lc_messages = 'C'
		log_line_prefix = '%m [%p] %q%u@%d '
		$LM_EXTRA_CONF
	EOF

	say "starting the throwaway cluster on $LM_TMP port $LM_PORT"
	if ! as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$SERVER_LOG" -w -t 60 start >/dev/null; then
		warn "pg_ctl start failed; server log follows"
		cat "$SERVER_LOG" >&2 || true
		exit 1
	fi
	client_env
	"$BINDIR/psql" -X -q -At -d postgres -c 'SELECT 1' >/dev/null ||
		{ cat "$SERVER_LOG" >&2; die "server started but does not accept connections"; }
}

cluster_stop() {
	resolve_pg
	if [[ -f $DATA/postmaster.pid ]]; then
		as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			warn "pg_ctl stop failed; removing anyway"
	fi
	if [[ -f $SERVER_LOG ]]; then
		{ mkdir -p "$LM_LOGDIR" && cp "$SERVER_LOG" "$LM_LOGDIR/server.log"; } 2>/dev/null || true
	fi
	cluster_remove
}

cmd_start() {
	cluster_start
	say "cluster running; for your shell:"
	print_env
}

# Restarts the running throwaway cluster: what is in shared buffers is
# gone, the data and the settings stay (bench/run.sh, before each timed COPY).
cmd_restart() {
	resolve_pg
	[[ -f $DATA/postmaster.pid ]] || die "no throwaway cluster running in $DATA"
	as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$SERVER_LOG" -m fast -w -t 60 restart >/dev/null ||
		{ cat "$SERVER_LOG" >&2; die "pg_ctl restart failed"; }
}

cmd_stop() {
	cluster_stop
	if [[ -e $LM_TAPDIR ]]; then
		tap_stop_nodes "$LM_TAPDIR"
		rm -rf "$LM_TAPDIR" || true
	fi
	say "cluster stopped and removed (its server log, if any: $LM_LOGDIR/server.log)"
}

# Used by test/demo/psql: stop the cluster on exit (unless LM_KEEP=1) and
# stop a suite that is still running (Ctrl-C, TERM).
SUITE_PID=
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $SUITE_PID ]]; then kill -TERM "$SUITE_PID" 2>/dev/null || true; wait "$SUITE_PID" 2>/dev/null || true; fi
	if [[ -n $LM_KEEP ]]; then
		say "LM_KEEP set: cluster left running in $LM_TMP"
		print_env
	else
		cluster_stop || true
	fi
	exit "$rc"
}
start_with_cleanup() {
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	cluster_start
}

# ---------------------------------------------------------------- suites
# Each suite runs in its own process (bash harness.sh suite-NAME) under a
# timeout.  Exit 0 = pass, 77 = skipped, anything else = fail.

suite_regress() {
	resolve_pg; client_env
	shopt -s nullglob
	local f tests=()
	for f in sql/*.sql; do f=${f#sql/}; tests+=("${f%.sql}"); done
	if ((${#tests[@]} == 0)); then echo "no sql/*.sql: nothing to run"; return 77; fi
	rm -f regression.diffs regression.out
	# ISOLATION= : run the isolation specs as their own suite, so that a
	# regression failure does not hide their result.
	if make -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS="${tests[*]}" ISOLATION=; then
		return 0
	fi
	if [[ -s regression.diffs ]]; then
		echo "----- regression.diffs"
		cat regression.diffs
	fi
	return 1
}

suite_isolation() {
	resolve_pg; client_env
	shopt -s nullglob
	local f specs=()
	for f in test/isolation/specs/*.spec; do f=${f##*/}; specs+=("${f%.spec}"); done
	if ((${#specs[@]} == 0)); then echo "no test/isolation/specs/*.spec: nothing to run"; return 77; fi
	rm -rf output_iso
	# pg_isolation_regress (like pg_regress) creates database
	# isolation_regression afresh and runs CREATE EXTENSION lead_mgmt in it
	# (ISOLATION_OPTS in the Makefile: --load-extension, --inputdir=test/isolation).
	if make -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS= ISOLATION="${specs[*]}"; then
		return 0
	fi
	if [[ -s output_iso/regression.diffs ]]; then
		echo "----- output_iso/regression.diffs"
		cat output_iso/regression.diffs
	fi
	return 1
}

suite_pgtap() {
	resolve_pg; client_env
	shopt -s nullglob
	local files=(test/pgtap/*.sql)
	if ((${#files[@]} == 0)); then echo "no test/pgtap/*.sql: nothing to run"; return 77; fi
	PGOPTIONS='-c client_min_messages=warning' "$BINDIR/dropdb" --if-exists lm_pgtap
	"$BINDIR/createdb" lm_pgtap
	"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d lm_pgtap \
		-c 'CREATE EXTENSION pgtap' -c "CREATE EXTENSION $EXTENSION" || return 1
	pg_prove -b "$BINDIR/psql" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d lm_pgtap \
		--failures --comments "${files[@]}"
}

# On exit of the TAP suite, also when killed by the timeout: stop the nodes
# a killed test left running, keep the logs, remove the work dir.
TAP_WORK=
tap_stop_nodes() {
	local f
	for f in "$1"/tmp_check/t_*_data/pgdata/postmaster.pid; do
		[[ -f $f ]] || continue
		echo "stopping a TAP node left running: ${f%/postmaster.pid}"
		if [[ -n $IS_ROOT ]]; then
			(cd / && runuser -u "$(stat -c %U "$f")" -- \
				"$BINDIR/pg_ctl" -D "${f%/postmaster.pid}" -m immediate -w stop) >/dev/null 2>&1 || true
		else
			"$BINDIR/pg_ctl" -D "${f%/postmaster.pid}" -m immediate -w stop >/dev/null 2>&1 || true
		fi
	done
}
tap_cleanup() {
	local rc=$? f
	trap - EXIT INT TERM
	[[ -n $TAP_WORK && -d $TAP_WORK ]] || exit "$rc"
	tap_stop_nodes "$TAP_WORK"
	mkdir -p "$LM_LOGDIR/tap"
	cp -r "$TAP_WORK/tmp_check/log/." "$LM_LOGDIR/tap/" 2>/dev/null || true
	if ((rc != 0)); then
		# the logs of tests that failed, died or were killed (no plan line)
		for f in "$TAP_WORK"/tmp_check/log/regress_log_*; do
			[[ -f $f ]] || continue
			if ! grep -qE 'not ok |# Looks like' "$f" && grep -qE '1\.\.[0-9]+$' "$f"; then
				continue
			fi
			echo "----- tail of ${f##*/}"
			tail -n 60 "$f"
		done
		echo "(full TAP logs, with each node's server log: $LM_LOGDIR/tap/)"
	fi
	if [[ -n $LM_KEEP ]]; then
		echo "LM_KEEP set: TAP work dir kept in $TAP_WORK"
	else
		rm -rf "$TAP_WORK"
	fi
	exit "$rc"
}

suite_tap() {
	resolve_pg
	shopt -s nullglob
	local files=(test/t/*.pl)
	# shellcheck disable=SC2206 # a glob on purpose
	[[ -z ${LM_TAP_TESTS:-} ]] || files=($LM_TAP_TESTS)
	if ((${#files[@]} == 0)); then echo "no test/t/*.pl: nothing to run"; return 77; fi

	# These tests start their own clusters (PostgreSQL::Test::Cluster), and
	# initdb/postgres refuse to run as root: as root, run them as LM_USER in
	# a copy of the repository that LM_USER owns.  Same layout either way:
	# cwd is the root of the copy (also in $LM_SRCDIR), tests are
	# test/t/*.pl, TESTDIR is the copy (the framework writes
	# $TESTDIR/tmp_check/log/*, copied to $LM_LOGDIR/tap at the end).
	ensure_owner_user
	rm -rf "$LM_LOGDIR/tap"
	# what a killed earlier run may have left
	if [[ -e $LM_TAPDIR ]]; then
		tap_stop_nodes "$LM_TAPDIR"
		local proc cwd
		for proc in /proc/[0-9]*; do
			cwd=$(readlink "$proc/cwd" 2>/dev/null) || continue
			if [[ $cwd == "$LM_TAPDIR" || $cwd == "$LM_TAPDIR"/* ]]; then
				echo "stopping a leftover TAP process: $(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null)"
				kill -TERM "${proc#/proc/}" 2>/dev/null || true
			fi
		done
		sleep 1
		rm -rf "$LM_TAPDIR" || die "cannot remove $LM_TAPDIR (left by another user?)"
	fi
	TAP_WORK=$LM_TAPDIR
	mkdir -p "$TAP_WORK"
	trap tap_cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	chmod 755 "$TAP_WORK"
	tar -C "$REPO" --exclude=./.git --exclude=./results --exclude=./output_iso \
		--exclude=./tmp_check --exclude=./log --exclude=./bench/out \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$TAP_WORK" -xf -
	mkdir -p "$TAP_WORK/tmp"
	[[ -z $IS_ROOT ]] || chown -R "$LM_USER:" "$TAP_WORK"

	local perldir=$PGXS_DIR/src/test/perl
	# Environment read by PostgreSQL::Test::Utils/Cluster (PG 15, see their
	# source): TESTDIR (base of tmp_check), PG_REGRESS (Cluster->init runs
	# pg_regress --config-auth), PATH (initdb, pg_ctl, postgres, psql and
	# pg_config are found through it: $BINDIR first), PG_TEST_TIMEOUT_DEFAULT
	# (default 180 s per wait; 60 here), and optionally PG_TEST_NOCLEAN,
	# PG_TEST_PORT_DIR, TEMP_CONFIG, which pass through.  The framework
	# deletes PGHOST/PGPORT/PGUSER/... itself and picks free ports.
	# TESTDATADIR is only read from PG 16 on; set anyway.  TMPDIR keeps the
	# framework's socket dirs inside the work dir.  LANG=C.UTF-8 exists on
	# every Debian 12 and keeps initdb from failing on a caller's locale that
	# is not generated on this machine.
	local tap_cmd=(env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u LC_ALL -u LC_CTYPE
		-u LC_COLLATE -u LC_MESSAGES -u LC_NUMERIC -u LC_TIME -u LC_MONETARY
		LANG=C.UTF-8
		PATH="$BINDIR:$PATH"
		PG_CONFIG="$PG_CONFIG"
		PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress"
		TESTDIR="$TAP_WORK" TESTDATADIR="$TAP_WORK/tmp_check"
		TMPDIR="$TAP_WORK/tmp"
		PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-60}"
		PERL5LIB="$perldir${PERL5LIB:+:$PERL5LIB}"
		LM_SRCDIR="$TAP_WORK"
		prove --timer -I "$perldir" -I test/t "${files[@]}")
	cd "$TAP_WORK"
	if [[ -n $IS_ROOT ]]; then
		runuser -u "$LM_USER" -- "${tap_cmd[@]}"
	else
		"${tap_cmd[@]}"
	fi
}

suite_cppcheck() {
	resolve_pg
	shopt -s nullglob
	local files=(src/*.c)
	if ((${#files[@]} == 0)); then echo "no src/*.c: nothing to check"; return 77; fi
	# We pass PostgreSQL's server include dir so that cppcheck knows PG's
	# macros and types (PG_FUNCTION_INFO_V1, foreach, PG_TRY, elog(ERROR)
	# not returning...), which avoids false positives in our code.  To keep
	# that fast and quiet: -D__GNUC__=12 makes cppcheck check only the one
	# preprocessor configuration gcc actually compiles (without a -D it
	# tries up to 12 #ifdef combinations of PG's headers: ~15 s per file),
	# and findings located inside PG's headers are suppressed (they are not
	# ours, e.g. nullPointerRedundantCheck in pg_list.h).
	cppcheck -q --std=c99 --enable=warning,performance --error-exitcode=1 --inline-suppr \
		--template=gcc -j "$(nproc)" \
		-I src -I "$INCLUDEDIR_SERVER" -D__GNUC__=12 -D__GNUC_MINOR__=2 \
		--suppress=missingIncludeSystem "--suppress=*:$INCLUDEDIR_SERVER/*" \
		"${files[@]}"
}

# clang-tidy over src/ with the checks of .clang-tidy (the static analyzer
# and bugprone-*; every finding is an error), one file per process.
suite_tidy() {
	resolve_pg
	shopt -s nullglob
	local files=(src/*.c)
	if ((${#files[@]} == 0)); then echo "no src/*.c: nothing to check"; return 77; fi
	command -v clang-tidy >/dev/null || die "clang-tidy not found: run 'bash test/harness.sh deps' first"
	# clang-tidy prints its findings on stdout and a count of the (mostly
	# PostgreSQL's, filtered) warnings it saw on stderr: only the former matter.
	printf '%s\0' "${files[@]}" |
		xargs -0 -n 1 -P "$(nproc)" sh -c 'clang-tidy -quiet "$2" -- -I src -I "$1" 2>/dev/null' tidy \
			"$INCLUDEDIR_SERVER" ||
		{ echo "clang-tidy: findings above (checks: .clang-tidy)"; return 1; }
	echo "clang-tidy: ${#files[@]} files clean"
}

# Optional (not in the default LM_SUITES): sqlsmith against a cluster of its
# own (test/sqlsmith.sh starts and stops it), for a bounded time.
suite_sqlsmith() {
	local secs=${LM_SQLSMITH_SECONDS:-120}
	if ((secs + 60 > LM_SUITE_TIMEOUT)); then
		warn "LM_SQLSMITH_SECONDS=$secs does not fit in LM_SUITE_TIMEOUT=$LM_SUITE_TIMEOUT (setup takes up to a minute)"
	fi
	LM_SQLSMITH_LOGDIR="$LM_LOGDIR/sqlsmith" bash "$REPO/test/sqlsmith.sh" "$secs"
}

# Run one suite in a child process under a timeout; record the result.
RESULTS=()
NPASS=0
NFAIL=0
run_suite() {
	local name=$1 t0=$SECONDS rc=0
	printf '\n======================================== %s\n' "$name"
	timeout -k 30 "$LM_SUITE_TIMEOUT" bash "$SELF" "suite-$name" &
	SUITE_PID=$!
	wait "$SUITE_PID" || rc=$?
	SUITE_PID=
	local secs=$((SECONDS - t0)) status
	case $rc in
		0) status=PASS; NPASS=$((NPASS + 1)) ;;
		77) status=SKIP ;;
		124 | 137) status="FAIL (timed out after ${LM_SUITE_TIMEOUT}s)"; NFAIL=$((NFAIL + 1)) ;;
		*) status="FAIL (exit $rc)"; NFAIL=$((NFAIL + 1)) ;;
	esac
	RESULTS+=("$(printf '%-10s %s  %ss' "$name" "$status" "$secs")")
}

cmd_test() {
	local build_ok=1 s
	cmd_deps
	resolve_pg
	# In a child process so that set -e stops the build at its first error.
	if ! bash "$SELF" build; then
		build_ok=
		warn "build failed: only the static check runs"
	fi
	if [[ -n $build_ok ]]; then
		start_with_cleanup
		print_env
	fi
	for s in $LM_SUITES; do
		case $s in regress | isolation | pgtap | tap | cppcheck | tidy | sqlsmith) ;; *) die "unknown suite: $s" ;; esac
		if [[ -z $build_ok && $s != cppcheck && $s != tidy ]]; then
			RESULTS+=("$(printf '%-10s %s' "$s" "FAIL (not run: build failed)")")
			NFAIL=$((NFAIL + 1))
			continue
		fi
		run_suite "$s"
	done
	printf '\n======================================== summary\n'
	[[ -n $build_ok ]] || echo "build      FAIL"
	printf '%s\n' "${RESULTS[@]}"
	echo "logs: $LM_LOGDIR"
	echo "$NPASS passed, $NFAIL failed"
	((NFAIL == 0))
}

# ---------------------------------------------------------------- demo, psql

cmd_demo() {
	cmd_deps
	cmd_build
	start_with_cleanup
	"$BINDIR/createdb" lm_demo
	"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d lm_demo -c "CREATE EXTENSION $EXTENSION"
	if [[ -f bench/demo.sql ]]; then
		say "running bench/demo.sql"
		"$BINDIR/psql" -X -v ON_ERROR_STOP=1 -d lm_demo -f bench/demo.sql
	else
		say "bench/demo.sql does not exist yet: nothing to show (extension installed in lm_demo)"
	fi
}

cmd_psql() {
	start_with_cleanup
	"$BINDIR/createdb" lm_dev
	"$BINDIR/psql" -X -q -d lm_dev -c "CREATE EXTENSION $EXTENSION" ||
		warn "CREATE EXTENSION $EXTENSION failed (not built/installed? run: bash test/harness.sh build)"
	say "database lm_dev; the cluster stops when psql exits (LM_KEEP=1 to keep it)"
	print_env
	"$BINDIR/psql" -X -d lm_dev "$@"
}

# ---------------------------------------------------------------- main

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$SELF"; }

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
	deps) cmd_deps ;;
	build) cmd_build ;;
	start) cmd_start ;;
	stop) cmd_stop ;;
	restart) cmd_restart ;;
	env) print_env ;;
	test) cmd_test ;;
	demo) cmd_demo ;;
	psql) cmd_psql "$@" ;;
	suite-regress) suite_regress ;;
	suite-isolation) suite_isolation ;;
	suite-pgtap) suite_pgtap ;;
	suite-tap) suite_tap ;;
	suite-cppcheck) suite_cppcheck ;;
	suite-tidy) suite_tidy ;;
	suite-sqlsmith) suite_sqlsmith ;;
	help | -h | --help) usage ;;
	*) usage >&2; exit 2 ;;
esac
