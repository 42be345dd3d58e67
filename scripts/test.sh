#!/usr/bin/env bash
# test.sh: what `make test` runs after `make lint` and the build. It starts
# DynamoDB Local and the local SQS on the test ports through bin/flashsale (so
# stopping that one process stops both), runs every test with the race
# detector while recording the functions' AWS calls, then the IAM parity
# test on those calls, and always stops the emulators, also on failure or
# Ctrl-C. Both runs end with gotestsum's summary of the failed tests.
set -euo pipefail
cd "$(dirname "$0")/.."

dynamodb_port=${TEST_DYNAMODB_PORT:-8100}
sqs_port=${TEST_SQS_PORT:-9424}
state=.flashsale/test-emulators
pidfile=$state/emulators.pid
out=$state/emulators.env
mkdir -p "$state"

# An emulators process left by an interrupted run holds the ports: stop it,
# but only if that PID still is our command.
if [[ -f $pidfile ]]; then
  old=$(<"$pidfile")
  if [[ -r /proc/$old/cmdline ]] && tr '\0' ' ' <"/proc/$old/cmdline" | grep -q 'flashsale emulators'; then
    echo "stopping emulators left by an earlier run (pid $old)"
    kill -TERM "$old" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
fi

bin/flashsale emulators --dynamodb-port "$dynamodb_port" --sqs-port "$sqs_port" --state "$state" \
  >"$out" 2>"$state/emulators.log" &
pid=$!
echo "$pid" >"$pidfile"

stop_emulators() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}
trap stop_emulators EXIT
trap 'exit 130' INT TERM # run the EXIT trap on Ctrl-C too

echo "== waiting for the emulators on ports $dynamodb_port and $sqs_port"
for _ in $(seq 600); do
  grep -q '^FLASHSALE_TEST_SQS=' "$out" && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "the emulators did not start:" >&2
    cat "$state/emulators.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! grep -q '^FLASHSALE_TEST_SQS=' "$out"; then
  echo "the emulators were not ready after 60 s; see $state/" >&2
  exit 1
fi
set -a
# shellcheck disable=SC1090 # FLASHSALE_TEST_DYNAMODB=... and FLASHSALE_TEST_SQS=...
source "$out"
set +a
echo "   DynamoDB $FLASHSALE_TEST_DYNAMODB, SQS $FLASHSALE_TEST_SQS"

# The IAM parity check: the whole run records every AWS call each
# function's handler makes (shared/awsclient, one JSON line per distinct
# call), then template-tests checks the file against each function's
# synthesized role, both ways (template-tests/iam_parity_test.go). The
# variable is set for the tests only, never for the emulators above.
calls=$state/iam-calls.jsonl
rm -f "$calls"

# gotestsum (pinned in go.mod) runs go test and ends with a summary of the
# failed tests and their output, so a failure is not hundreds of lines up;
# it exits non-zero when go test does.
gotestsum=(go tool gotestsum --format pkgname-and-test-fails --format-hide-empty-pkg --)

# FLASHSALE_OPENAPI_STRICT=1 makes every local gateway the tests build check
# each exchange against docs/openapi.yaml; the harnesses fail the test on a
# violation (shared/local/openapicheck).
echo "== go test -race ./... (recording AWS calls to $calls)"
FLASHSALE_IAM_RECORD="$PWD/$calls" FLASHSALE_REQUIRE_EMULATORS=1 FLASHSALE_OPENAPI_STRICT=1 "${gotestsum[@]}" -race -count=1 -timeout 30m ./...

echo "== IAM parity: each function's role against the calls it made"
FLASHSALE_IAM_PARITY="$PWD/$calls" "${gotestsum[@]}" -count=1 -run '^TestIAMParity$' ./template-tests
