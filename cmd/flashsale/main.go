// Command flashsale is the tool for engineers and finance: it runs the local
// stack, mints dev tokens, pays orders, prints reports and load-tests.
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:           "flashsale",
	Short:         "Run, load-test and report on the flashsale backend",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "flashsale:", err)
		os.Exit(1)
	}
}
