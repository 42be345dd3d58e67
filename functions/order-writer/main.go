// Command order-writer is the orders queue consumer Lambda. It only wires:
// app.MustFromEnv builds the clients, service and handler once per container.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
)

func main() {
	lambda.Start(app.MustFromEnv(apispec.FunctionOrderWriter).OrderWriter)
}
