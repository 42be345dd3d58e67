// Command cdkapp is the CDK app cdk.json runs: it reads the context
// (-c stage=dev|prod and the rest, see docs/deploy.md) and synthesizes the
// flashsale stack.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"flashsale/infra"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cdkapp:", err)
		os.Exit(1)
	}
}

// run synthesizes the app. Constructs report bad input by panicking; run
// turns that into one readable line instead of a goroutine dump.
func run() (err error) {
	defer jsii.Close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	app := awscdk.NewApp(nil)
	props, err := infra.PropsFromContext(app.Node())
	if err != nil {
		return err
	}
	if props.Stage == "" {
		props.Stage = "dev"
	}
	infra.NewFlashSaleStack(app, infra.StackID(props.Stage), props)
	app.Synth(nil)
	return nil
}
