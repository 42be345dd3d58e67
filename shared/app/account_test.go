package app_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"flashsale/shared/app"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/testclock"
	"flashsale/shared/memqueue"
	"flashsale/shared/memstore"
)

type fakeUserPool struct {
	calls []*cognitoidentityprovider.AdminUpdateUserAttributesInput
	err   error
}

func (f *fakeUserPool) AdminUpdateUserAttributes(_ context.Context, in *cognitoidentityprovider.AdminUpdateUserAttributesInput,
	_ ...func(*cognitoidentityprovider.Options)) (*cognitoidentityprovider.AdminUpdateUserAttributesOutput, error) {
	f.calls = append(f.calls, in)
	return &cognitoidentityprovider.AdminUpdateUserAttributesOutput{}, f.err
}

// TestAccountCreated_RecordsTheSignUpOnce: a confirmed sign-up gets
// custom:created_at (Unix seconds, now); a password reset, or a user who
// already has one, is left alone; a failed write fails the trigger.
func TestAccountCreated_RecordsTheSignUpOnce(t *testing.T) {
	clock := testclock.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	pool := &fakeUserPool{}
	a := app.Build(memstore.New(), memqueue.New(), app.Options{Logger: slog.New(slog.DiscardHandler), Cognito: pool,
		Service: []flashsale.Option{flashsale.WithClock(clock.Now)}})
	ev := func(source string, attrs map[string]string) events.CognitoEventUserPoolsPostConfirmation {
		var e events.CognitoEventUserPoolsPostConfirmation
		e.TriggerSource, e.UserPoolID, e.UserName = source, "eu-west-1_pool", "buyer-1"
		e.Request.UserAttributes = attrs
		return e
	}
	ctx := context.Background()
	if _, err := a.AccountCreated(ctx, ev("PostConfirmation_ConfirmSignUp", map[string]string{"sub": "buyer-1"})); err != nil {
		t.Fatal(err)
	}
	if len(pool.calls) != 1 {
		t.Fatalf("%d AdminUpdateUserAttributes calls, want 1", len(pool.calls))
	}
	in := pool.calls[0]
	if aws.ToString(in.UserPoolId) != "eu-west-1_pool" || aws.ToString(in.Username) != "buyer-1" || len(in.UserAttributes) != 1 ||
		aws.ToString(in.UserAttributes[0].Name) != "custom:created_at" || aws.ToString(in.UserAttributes[0].Value) != "1796115600" {
		t.Fatalf("update %+v, want custom:created_at=1796115600 for buyer-1", in)
	}
	for _, e := range []events.CognitoEventUserPoolsPostConfirmation{
		ev("PostConfirmation_ConfirmForgotPassword", map[string]string{"sub": "buyer-1"}),
		ev("PostConfirmation_ConfirmSignUp", map[string]string{"custom:created_at": "1700000000"}),
	} {
		if _, err := a.AccountCreated(ctx, e); err != nil || len(pool.calls) != 1 {
			t.Fatalf("%s: %v, %d calls; want nothing written", e.TriggerSource, err, len(pool.calls))
		}
	}
	pool.err = errors.New("injected")
	if _, err := a.AccountCreated(ctx, ev("PostConfirmation_ConfirmSignUp", nil)); err == nil {
		t.Fatal("a failed write did not fail the trigger")
	}
}
