// Command warm-up is the target of every sale's warm-up and cool-down
// schedules: it sets the reserve function's provisioned concurrency for the
// sales running now. It only wires: app.MustFromEnv builds the clients once
// per container.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
)

func main() {
	lambda.Start(app.MustFromEnv(apispec.FunctionWarmUp).WarmUp)
}
