// Package lambdawarm sets the reserve function's provisioned concurrency on
// its alias: warmup.Provisioner over the Lambda API.
package lambdawarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"flashsale/shared/warmup"
)

// API is the part of the Lambda API a SetProvisioned calls; *lambda.Client
// implements it.
type API interface {
	PutProvisionedConcurrencyConfig(ctx context.Context, in *lambda.PutProvisionedConcurrencyConfigInput, optFns ...func(*lambda.Options)) (*lambda.PutProvisionedConcurrencyConfigOutput, error)
	DeleteProvisionedConcurrencyConfig(ctx context.Context, in *lambda.DeleteProvisionedConcurrencyConfigInput, optFns ...func(*lambda.Options)) (*lambda.DeleteProvisionedConcurrencyConfigOutput, error)
}

var _ API = (*lambda.Client)(nil)

// Provisioner is warmup.Provisioner for one function's alias.
type Provisioner struct {
	api      API
	function string
	alias    string
	log      *slog.Logger
}

var _ warmup.Provisioner = (*Provisioner)(nil)

// New returns a Provisioner of function's alias (provisioned concurrency
// lives on a version or alias, never on $LATEST). log may be nil.
func New(api API, function, alias string, log *slog.Logger) (*Provisioner, error) {
	if function == "" || alias == "" {
		return nil, errors.New("lambdawarm: a function name and an alias are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provisioner{api: api, function: function, alias: alias, log: log}, nil
}

// SetProvisioned asks Lambda for n provisioned environments on the alias;
// 0 deletes the configuration, since Lambda accepts no config of 0, and a
// configuration already gone is fine. Lambda allocates in the background
// (status IN_PROGRESS, a few minutes), which is what the warm-up's lead
// is for. why says which schedule asked, for the log and the error.
// Errors are Lambda's, e.g. InvalidParameterValueException for n above
// the function's reserved concurrency.
func (p *Provisioner) SetProvisioned(ctx context.Context, n int, why string) error {
	switch {
	case n < 0:
		return fmt.Errorf("provisioned concurrency of %s:%s (%s): %d is negative", p.function, p.alias, why, n)
	case n == 0:
		_, err := p.api.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{
			FunctionName: aws.String(p.function), Qualifier: aws.String(p.alias),
		})
		if isNotFound(err) {
			p.log.InfoContext(ctx, "no provisioned concurrency to delete", "function", p.function, "alias", p.alias, "why", why)
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete provisioned concurrency of %s:%s (%s): %w", p.function, p.alias, why, err)
		}
		p.log.InfoContext(ctx, "provisioned concurrency deleted", "function", p.function, "alias", p.alias, "why", why)
		return nil
	}
	out, err := p.api.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{
		FunctionName: aws.String(p.function), Qualifier: aws.String(p.alias),
		ProvisionedConcurrentExecutions: aws.Int32(int32(min(n, 1<<31-1))),
	})
	if err != nil {
		return fmt.Errorf("set provisioned concurrency of %s:%s to %d (%s): %w", p.function, p.alias, n, why, err)
	}
	p.log.InfoContext(ctx, "provisioned concurrency requested", "function", p.function, "alias", p.alias,
		"requested", n, "status", out.Status, "why", why)
	return nil
}

// isNotFound: the delete found no configuration. Lambda documents
// ResourceNotFoundException; the ProvisionedConcurrencyConfigNotFound
// exception of GetProvisionedConcurrencyConfig means the same, so both
// count.
func isNotFound(err error) bool {
	if _, ok := errors.AsType[*types.ResourceNotFoundException](err); ok {
		return true
	}
	_, ok := errors.AsType[*types.ProvisionedConcurrencyConfigNotFoundException](err)
	return ok
}
