package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/local/devauth"
)

func init() {
	rootCmd.AddCommand(newTokenCmd())
	rootCmd.AddCommand(newAPIKeyCmd())
}

// tokenOptions are the flags of `flashsale token`.
type tokenOptions struct {
	state  string
	user   string
	groups []string
	ttl    time.Duration
	users  int
	prefix string
	// created is the account's creation time, RFC 3339; "" means
	// devauth.DefaultAccountAge ago.
	created string
}

func newTokenCmd() *cobra.Command {
	var o tokenOptions
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print dev JWTs that the local gateway accepts",
		Long: `Print Cognito-style ID tokens signed with the local stack's dev key.

One token:        flashsale token --user alice [--group admin]... [--ttl 1h]
Many, one a line: flashsale token --users 1000 --prefix buyer   (buyer1 … buyer1000)

--created sets the account's creation time (the custom:created_at claim that
a sale's minAccountAgeDays reads); by default accounts are 400 days old.
  flashsale token --user newbie --group member --created 2026-11-20T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runToken(o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	stateFlag(f.StringVar, &o.state)
	f.StringVar(&o.user, "user", "", "user id (the sub claim)")
	f.StringArrayVar(&o.groups, "group", nil, "cognito:groups entry; repeat for several (admin, finance)")
	f.DurationVar(&o.ttl, "ttl", devauth.DefaultTTL, "token lifetime")
	f.IntVar(&o.users, "users", 0, "print this many tokens, for users <prefix>1 … <prefix>N")
	f.StringVar(&o.prefix, "prefix", "user", "user id prefix for --users")
	f.StringVar(&o.created, "created", "", "account creation time, RFC 3339 (default: 400 days ago)")
	cmd.MarkFlagsMutuallyExclusive("user", "users")
	cmd.MarkFlagsOneRequired("user", "users")
	return cmd
}

// stateFlag registers --state with the default documented once.
func stateFlag(register func(*string, string, string, string), p *string) {
	register(p, "state", "", "state folder of the local stack (default $"+devauth.StateEnv+" or <repo>/.flashsale)")
}

// openIssuer loads the dev keys from state, or from the default state folder.
func openIssuer(state string) (*devauth.Issuer, error) {
	if state == "" {
		var err error
		if state, err = devauth.DefaultStateDir(); err != nil {
			return nil, err
		}
	}
	return devauth.LoadOrCreate(state)
}

func runToken(o tokenOptions, out io.Writer) error {
	if o.ttl <= 0 {
		return fmt.Errorf("--ttl %v: want a positive duration", o.ttl)
	}
	if o.users < 0 || (o.user == "" && o.users == 0) {
		return errors.New("give --user ID or --users N (N ≥ 1)")
	}
	var created time.Time
	if o.created != "" {
		var err error
		if created, err = time.Parse(time.RFC3339, o.created); err != nil {
			return fmt.Errorf("--created %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", o.created)
		}
	}
	iss, err := openIssuer(o.state)
	if err != nil {
		return err
	}
	// All tokens of one run share iat, so a batch for a load test expires
	// together and is easy to reason about.
	now := time.Now()
	mint := func(user string) error {
		tok, err := iss.Token(devauth.TokenRequest{UserID: user, Groups: o.groups, TTL: o.ttl, IssuedAt: now, CreatedAt: created})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, tok)
		return err
	}
	if o.user != "" {
		return mint(o.user)
	}
	for i := 1; i <= o.users; i++ {
		if err := mint(o.prefix + strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

func newAPIKeyCmd() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "apikey",
		Short: "Print the local stack's usage-plan API key (send it as x-api-key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			iss, err := openIssuer(state)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), iss.APIKey())
			return err
		},
	}
	stateFlag(cmd.Flags().StringVar, &state)
	return cmd
}
