// Command notifier is the target of every sale's remind schedules: it
// notifies the sale's subscribers, each once. It only wires: app.MustFromEnv
// builds the clients once per container.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
)

func main() {
	lambda.Start(app.MustFromEnv(apispec.FunctionNotifier).Remind)
}
