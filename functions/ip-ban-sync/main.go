// Command ip-ban-sync brings the WebACL's IP sets into line with the IP-ban
// items: on a schedule, and when the admin function nudges it after a
// change. It only wires: app.MustFromEnv builds the clients once per
// container.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
)

func main() {
	lambda.Start(app.MustFromEnv(apispec.FunctionIPBanSync).BanSync)
}
