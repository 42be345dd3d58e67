// Command admission is the admission Lambda: challenges and purchase tokens.
// It only wires: app.MustFromEnv builds the clients, service and handlers
// once per container, outside the handler.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
)

func main() {
	lambda.Start(app.MustFromEnv(apispec.FunctionAdmission).Handlers[apispec.FunctionAdmission])
}
