// Package templatetests asserts what the synthesized flashsale stack means,
// through resource properties and assertions.Match rather than logical IDs:
// runtimes, throttles equal to apispec, FIFO and DLQ settings, least-privilege
// IAM, alarms, routes and tables equal to their one source of truth, and a
// clean cdk-nag report.
package templatetests

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"flashsale/infra"
	"flashsale/shared/apispec"
)

// built is one synthesized stack.
type built struct {
	stage  string
	props  infra.FlashSaleStackProps
	limits apispec.Limits
	stack  awscdk.Stack
	tpl    assertions.Template
	// res is the template's Resources section.
	res map[string]any
}

// stacks holds the dev and prod stacks, synthesized once for the package:
// starting jsii costs ~9 s, each further synth a few.
var stacks []*built

// financePrincipal may assume prod's FinanceReportsReader role.
const financePrincipal = "arn:aws:iam::111122223333:role/finance-analysts"

// Prod exercises every optional setting; dev runs on defaults.
var stackProps = []infra.FlashSaleStackProps{
	{Stage: "dev"},
	{
		Stage:                  "prod",
		AlarmEmail:             "oncall@example.com",
		ProvisionedConcurrency: 50,
		WarmThroughput:         &infra.WarmThroughput{ReadUnitsPerSecond: 40000, WriteUnitsPerSecond: 20000},
		PrepareLead:            15 * time.Minute,
		FinanceReaderPrincipal: financePrincipal,
	},
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "template-tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// run synthesizes the stacks from placeholder function assets in a temp dir,
// so the tests need neither make build nor the functions' sources, and leave
// nothing in the repository.
func run(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "flashsale-template-tests-")
	if err != nil {
		return 0, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	assets := filepath.Join(tmp, "build")
	if err := writePlaceholderAssets(assets); err != nil {
		return 0, err
	}
	defer jsii.Close()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(filepath.Join(tmp, "cdk.out"))})
	for _, p := range stackProps {
		p.AssetRoot = assets
		limits, err := apispec.LimitsFor(p.Stage)
		if err != nil {
			return 0, err
		}
		st := infra.NewFlashSaleStack(app, infra.StackID(p.Stage), &p)
		stacks = append(stacks, &built{stage: p.Stage, props: p, limits: limits, stack: st})
	}
	app.Synth(nil) // runs the cdk-nag aspects
	for _, b := range stacks {
		b.tpl = assertions.Template_FromStack(b.stack, nil)
		res, ok := (*b.tpl.ToJSON())["Resources"].(map[string]any)
		if !ok {
			return 0, fmt.Errorf("%s: template has no Resources", b.stage)
		}
		b.res = res
	}
	return m.Run(), nil
}

// writePlaceholderAssets creates root/<fn>/bootstrap for every function; the
// template only needs the folders to hash and stage.
func writePlaceholderAssets(root string) error {
	for _, name := range apispec.FunctionNames() {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("placeholder asset: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n# placeholder for "+name+"\n"), 0o755); err != nil {
			return fmt.Errorf("placeholder asset: %w", err)
		}
	}
	return nil
}

// eachStack runs f as a subtest per stage.
func eachStack(t *testing.T, f func(t *testing.T, b *built)) {
	t.Helper()
	for _, b := range stacks {
		t.Run(b.stage, func(t *testing.T) { f(t, b) })
	}
}
