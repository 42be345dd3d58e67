package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"flashsale/shared/awsclient"
	"flashsale/shared/local/devstack"
)

// TestEmulatorsCommand_SIGINTStopsChildren runs `flashsale emulators` as a
// real process on free ports, checks both emulators answer, sends SIGINT and
// checks that the command exits cleanly and leaves no java or node behind.
func TestEmulatorsCommand_SIGINTStopsChildren(t *testing.T) {
	bin := stackBuildCLI(t)
	dynPort, sqsPort := stackFreePort(t), stackFreePort(t)
	cmd := exec.Command(bin, "emulators", "--dynamodb-port", strconv.Itoa(dynPort), "--sqs-port", strconv.Itoa(sqsPort), "--state", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	env := stackReadEnvLines(t, stdout, 2, 90*time.Second, &stderr)
	wantDyn, wantSQS := "http://127.0.0.1:"+strconv.Itoa(dynPort), "http://127.0.0.1:"+strconv.Itoa(sqsPort)
	if env[devstack.EnvTestDynamoDB] != wantDyn || env[devstack.EnvTestSQS] != wantSQS {
		t.Fatalf("printed %v, want %s=%s and %s=%s", env, devstack.EnvTestDynamoDB, wantDyn, devstack.EnvTestSQS, wantSQS)
	}
	s := awsclient.Settings{DynamoDBEndpoint: wantDyn, SQSEndpoint: wantSQS, MaxAttempts: 1}
	cfg, err := awsclient.LoadConfig(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := devstack.Ping(t.Context(), awsclient.DynamoDB(cfg, s), awsclient.SQS(cfg, s)); err != nil {
		t.Fatalf("emulators do not answer after the ready lines: %v", err)
	}

	children := stackChildrenOf(t, cmd.Process.Pid)
	if len(children) != 2 {
		t.Fatalf("flashsale emulators has children %v, want 2 (java and node)", children)
	}
	stackInterrupt(t, cmd, &stderr)
	stackAssertGone(t, children)
}

// stackBuildCLI builds the flashsale binary into a temp folder. Signals must reach
// the real binary, not `go run`, hence a build.
func stackBuildCLI(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		tb.Skip("needs /proc to find child processes")
	}
	root, err := devstack.FindRoot(".")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := devstack.CheckPrerequisites(ctx, root); err != nil {
		if os.Getenv("FLASHSALE_REQUIRE_EMULATORS") == "1" {
			tb.Fatalf("prerequisites: %v", err)
		}
		tb.Skipf("prerequisites missing, skipping (make test runs this): %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "flashsale")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// stackReadEnvLines reads KEY=value lines from r until it has n of them.
func stackReadEnvLines(tb testing.TB, r io.Reader, n int, timeout time.Duration, stderr *strings.Builder) map[string]string {
	tb.Helper()
	got := make(chan map[string]string, 1)
	go func() {
		env := map[string]string{}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				env[k] = v
				if len(env) == n {
					break
				}
			}
		}
		got <- env
		_, _ = io.Copy(io.Discard, r) // keep the pipe drained
	}()
	select {
	case env := <-got:
		if len(env) < n {
			tb.Fatalf("command exited after printing %v, want %d lines; stderr:\n%s", env, n, stderr)
		}
		return env
	case <-time.After(timeout):
		tb.Fatalf("no ready lines after %s; stderr:\n%s", timeout, stderr)
		return nil
	}
}

// stackInterrupt sends SIGINT and expects a clean exit within 30 s.
func stackInterrupt(tb testing.TB, cmd *exec.Cmd, stderr *strings.Builder) {
	tb.Helper()
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Errorf("exit after SIGINT: %v, want status 0; stderr:\n%s", err, stderr)
		}
		tb.Logf("stopped %s after SIGINT", time.Since(start).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		tb.Fatalf("still running 30 s after SIGINT; stderr:\n%s", stderr)
	}
}

// stackChildrenOf lists the direct children of pid from /proc/*/stat.
func stackChildrenOf(tb testing.TB, pid int) []int {
	tb.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		tb.Fatal(err)
	}
	var kids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process ended meanwhile
		}
		// Fields after the parenthesised command: state, ppid, ...
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			kids = append(kids, child)
		}
	}
	return kids
}

func stackAssertGone(tb testing.TB, pids []int) {
	tb.Helper()
	for _, pid := range pids {
		if !devstack.Gone(pid) {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			tb.Errorf("child %d (%s) or its group is still alive, want it gone", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
}

func stackFreePort(tb testing.TB) int {
	tb.Helper()
	p, err := devstack.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
