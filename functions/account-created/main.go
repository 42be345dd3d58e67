// Command account-created is the user pool's post-confirmation trigger: it
// records when a buyer's account was created (custom:created_at), which a
// sale's minimum account age reads. It only wires: app.MustFromEnv builds the
// clients once per container.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
)

func main() {
	lambda.Start(app.MustFromEnv(apispec.FunctionAccountCreated).AccountCreated)
}
