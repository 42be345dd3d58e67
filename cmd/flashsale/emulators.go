package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"flashsale/shared/local/devstack"
)

func init() { rootCmd.AddCommand(newEmulatorsCmd()) }

// emulatorFlags are the flags `emulators` and `dev` share.
type emulatorFlags struct {
	dynamoDBPort, sqsPort int
	data                  string
}

func (f *emulatorFlags) register(cmd *cobra.Command, dynamoDBPort, sqsPort int) {
	cmd.Flags().IntVar(&f.dynamoDBPort, "dynamodb-port", dynamoDBPort, "DynamoDB Local port on 127.0.0.1")
	cmd.Flags().IntVar(&f.sqsPort, "sqs-port", sqsPort, "local SQS port on 127.0.0.1")
	cmd.Flags().StringVar(&f.data, "data", "", "persist DynamoDB Local's tables in this folder (default: in memory; SQS is always in memory)")
}

func newEmulatorsCmd() *cobra.Command {
	var (
		f     emulatorFlags
		state string
	)
	cmd := &cobra.Command{
		Use:   "emulators",
		Short: "Run only DynamoDB Local and the local SQS, for integration tests",
		Long: `Starts DynamoDB Local and the local SQS on 127.0.0.1, prints the environment
integration tests read once both answer, and runs until SIGINT or SIGTERM,
then stops both. make test runs it in the background on the test ports, so
tests can run beside make dev.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			root, err := devstack.FindRoot(".")
			if err != nil {
				return err
			}
			if state == "" {
				state = filepath.Join(root, ".flashsale", "emulators")
			}
			e, err := devstack.StartEmulators(ctx, devstack.EmulatorConfig{
				Root: root, DynamoDBPort: f.dynamoDBPort, SQSPort: f.sqsPort, DataDir: f.data,
				LogDir: state, Logger: log,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s=%s\n%s=%s\n", devstack.EnvTestDynamoDB, e.DynamoDBEndpoint, devstack.EnvTestSQS, e.SQSEndpoint)
			log.Info("emulators ready; stop with Ctrl-C", "dynamodb", e.DynamoDBEndpoint, "sqs", e.SQSEndpoint, "logs", state, "pids", e.PIDs())
			<-ctx.Done()
			log.Info("stopping emulators")
			return e.Stop()
		},
	}
	f.register(cmd, devstack.DefaultTestDynamoDBPort, devstack.DefaultTestSQSPort)
	cmd.Flags().StringVar(&state, "state", "", "folder for the emulators' logs (default <repo>/.flashsale/emulators)")
	return cmd
}
