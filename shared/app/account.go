package app

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	cognitotypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// CreatedAtAttribute is the user-pool attribute behind the custom:created_at
// claim that a sale's minAccountAgeDays reads. The app client may read it
// but not write it, so only AccountCreated sets it.
const CreatedAtAttribute = "custom:created_at"

// UserPoolAPI is the part of the Cognito API AccountCreated calls.
type UserPoolAPI interface {
	AdminUpdateUserAttributes(ctx context.Context, in *cognitoidentityprovider.AdminUpdateUserAttributesInput,
		optFns ...func(*cognitoidentityprovider.Options)) (*cognitoidentityprovider.AdminUpdateUserAttributesOutput, error)
}

// accountCreated is the user pool's post-confirmation trigger: when a buyer
// confirms their sign-up it records when, as custom:created_at (Unix seconds,
// the form the contract's claim takes). Cognito keeps the creation date
// itself (UserCreateDate) but does not put it in tokens, and a custom
// attribute the buyer could write would let them pick their own age. It
// leaves the attribute alone on a password reset (the other
// post-confirmation) and for a user who already has one.
func accountCreated(cognito UserPoolAPI, now func() time.Time) func(context.Context, events.CognitoEventUserPoolsPostConfirmation) (events.CognitoEventUserPoolsPostConfirmation, error) {
	return func(ctx context.Context, ev events.CognitoEventUserPoolsPostConfirmation) (events.CognitoEventUserPoolsPostConfirmation, error) {
		if ev.TriggerSource != "PostConfirmation_ConfirmSignUp" || ev.Request.UserAttributes[CreatedAtAttribute] != "" {
			return ev, nil
		}
		if cognito == nil {
			return ev, fmt.Errorf("account-created: no Cognito client")
		}
		created := strconv.FormatInt(now().Unix(), 10)
		_, err := cognito.AdminUpdateUserAttributes(ctx, &cognitoidentityprovider.AdminUpdateUserAttributesInput{
			UserPoolId: &ev.UserPoolID, Username: &ev.UserName,
			UserAttributes: []cognitotypes.AttributeType{{Name: new(CreatedAtAttribute), Value: &created}},
		})
		if err != nil {
			// Failing the trigger fails the confirmation, and the buyer
			// confirms again: better than an account whose age is unknown
			// (which no sale with a minimum age would admit).
			return ev, fmt.Errorf("account-created: record %s of %s: %w", CreatedAtAttribute, ev.UserName, err)
		}
		return ev, nil
	}
}
