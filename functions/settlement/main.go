// Command settlement is the scheduled settlement Lambda. It only wires:
// app.MustFromEnv builds the clients, service and handler once per container.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
)

func main() {
	lambda.Start(app.MustFromEnv(apispec.FunctionSettlement).Settlement)
}
