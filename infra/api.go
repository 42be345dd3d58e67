package infra

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsxray"
	"github.com/aws/jsii-runtime-go"

	"flashsale/shared/apispec"
)

// api is the front door.
type api struct {
	rest awsapigateway.RestApi
	// methods by route key.
	methods  map[apispec.RouteKey]awsapigateway.Method
	userPool awscognito.UserPool
}

// pathParam matches the {name} segments of a route path.
var pathParam = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// methodSettingKey is how the CDK names a method in StageOptions.MethodOptions.
func methodSettingKey(r apispec.Route) string { return r.Path + "/" + r.Method }

// newAPI builds the REST API from apispec.Routes, with Cognito, throttles,
// the usage plan, the cache, access logs and the WAF.
func (s *stack) newAPI(fns *functions, bans *ipSets) *api {
	a := &api{methods: map[apispec.RouteKey]awsapigateway.Method{}}
	a.userPool = s.newUserPool(fns)
	authorizer := awsapigateway.NewCognitoUserPoolsAuthorizer(s.st, jsii.String("Authorizer"), &awsapigateway.CognitoUserPoolsAuthorizerProps{
		CognitoUserPools: &[]awscognito.IUserPool{a.userPool},
		// API Gateway caches the verdict per token; the local gateway does too.
		ResultsCacheTtl: awscdk.Duration_Minutes(jsii.Number(5)),
	})

	accessLog := awslogs.NewLogGroup(s.st, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     s.logRetention(),
		RemovalPolicy: s.removal,
	})

	// Every method override repeats the stage's logging, metrics and
	// throttle, so an override (here: cache, a method throttle) never
	// silently drops a stage setting for its method.
	base := func() *awsapigateway.MethodDeploymentOptions {
		return &awsapigateway.MethodDeploymentOptions{
			LoggingLevel:   awsapigateway.MethodLoggingLevel_ERROR,
			MetricsEnabled: jsii.Bool(true),
			// Off unless the route is cached (below): see the stage.
			CachingEnabled:       jsii.Bool(false),
			ThrottlingRateLimit:  jsii.Number(s.limits.Stage.RateLimit),
			ThrottlingBurstLimit: jsii.Number(s.limits.Stage.BurstLimit),
		}
	}
	overrides := map[string]*awsapigateway.MethodDeploymentOptions{}
	// Each route apispec throttles must exist, or its limit silently
	// throttles nothing.
	unthrottled := map[apispec.RouteKey]bool{apispec.PurchaseRoute: true, apispec.TokenRoute: true}
	for _, r := range apispec.Routes {
		o := base()
		if r.CacheSeconds > 0 {
			o.CachingEnabled = jsii.Bool(true)
			o.CacheTtl = awscdk.Duration_Seconds(jsii.Number(r.CacheSeconds))
			o.CacheDataEncrypted = jsii.Bool(true)
		}
		t, throttled := s.limits.MethodThrottle(r.Key())
		if throttled {
			o.ThrottlingRateLimit = jsii.Number(t.RateLimit)
			o.ThrottlingBurstLimit = jsii.Number(t.BurstLimit)
			delete(unthrottled, r.Key())
		}
		if r.CacheSeconds > 0 || throttled {
			overrides[methodSettingKey(r)] = o
		}
	}
	for k := range unthrottled {
		panic(fmt.Errorf("method-throttled route %q is not in apispec.Routes", k))
	}

	// The CDK refuses a removal policy for a role it does not create.
	var accountRoleRemoval awscdk.RemovalPolicy
	if *s.props.APIGatewayAccountRole {
		accountRoleRemoval = awscdk.RemovalPolicy_RETAIN
	}
	a.rest = awsapigateway.NewRestApi(s.st, jsii.String("Api"), &awsapigateway.RestApiProps{
		RestApiName: jsii.String(*s.st.StackName() + "-api"),
		Description: jsii.String("flashsale REST API, generated from shared/apispec"),
		// Regional: the WAF sees client IPs directly and the mobile apps
		// gain nothing from an edge distribution for a dynamic API.
		EndpointConfiguration: &awsapigateway.EndpointConfiguration{
			Types: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		},
		// Access and execution logs need the account-level CloudWatch role,
		// and an account and region have one slot for it. Exactly one stack
		// owns it (prod by default) and retains it on delete, so destroying
		// any stack, dev above all, never leaves the account pointing at a
		// deleted role (docs/deploy.md, "First deploy in a fresh account").
		CloudWatchRole:              s.props.APIGatewayAccountRole,
		CloudWatchRoleRemovalPolicy: accountRoleRemoval,
		ApiKeySourceType:            awsapigateway.ApiKeySourceType_HEADER,
		// Reports, CSVs and order lists compress several-fold; below 1 KB
		// (a sale's info, an order, an error) gzip saves a few hundred bytes
		// at most and costs CPU on both ends, so those go out as they are.
		// Only clients that send Accept-Encoding get compressed bodies.
		MinCompressionSize: awscdk.Size_Kibibytes(jsii.Number(1)),
		// The report routes answer XLSX base64-encoded (isBase64Encoded);
		// API Gateway decodes it to bytes only for a type listed here that
		// the request's Accept names. Only this type: a */* entry would
		// also base64 every JSON request body on its way to the handlers.
		BinaryMediaTypes: jsii.Strings(apispec.BinaryMediaTypes...),
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(s.props.Stage),
			ThrottlingRateLimit:  jsii.Number(s.limits.Stage.RateLimit),
			ThrottlingBurstLimit: jsii.Number(s.limits.Stage.BurstLimit),
			// ERROR, not INFO: at a sale's request rate INFO logs cost more
			// than the API; the access log has one line per request anyway.
			LoggingLevel:         awsapigateway.MethodLoggingLevel_ERROR,
			DataTraceEnabled:     jsii.Bool(false), // would log tokens and bodies
			MetricsEnabled:       jsii.Bool(true),
			TracingEnabled:       jsii.Bool(true),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLog),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat())),
			// The smallest cache (0.5 GB) holds every sale's info; only
			// routes with CacheSeconds > 0 use it. Caching is off
			// explicitly on /*/*, so no other GET (an order, a report) can
			// be answered from a cache keyed without its caller.
			CachingEnabled:      jsii.Bool(false),
			CacheClusterEnabled: jsii.Bool(true),
			CacheClusterSize:    jsii.String("0.5"),
			MethodOptions:       &overrides,
		},
	})

	// The validator checks declared path parameters. Bodies and headers
	// (Idempotency-Key) are checked by the handlers, because the contract
	// fixes their order (404 before 400) and error shape, which the local
	// gateway reproduces; a gateway model would answer first and differently.
	validator := a.rest.AddRequestValidator(jsii.String("Validator"), &awsapigateway.RequestValidatorOptions{
		ValidateRequestBody:       jsii.Bool(true),
		ValidateRequestParameters: jsii.Bool(true),
	})

	for _, r := range apispec.Routes {
		fn, ok := fns.api[r.Function]
		if !ok {
			panic(fmt.Errorf("route %s: no function %q", r.Key(), r.Function))
		}
		params := map[string]*bool{}
		var cacheKeys []*string
		for _, m := range pathParam.FindAllStringSubmatch(r.Path, -1) {
			p := "method.request.path." + m[1]
			params[p] = jsii.Bool(true)
			if r.CacheSeconds > 0 {
				// Without this every sale would share one cache entry.
				cacheKeys = append(cacheKeys, jsii.String(p))
			}
		}
		integ := &awsapigateway.LambdaIntegrationOptions{Proxy: jsii.Bool(true)}
		if len(cacheKeys) > 0 {
			integ.CacheKeyParameters = &cacheKeys
		}
		opts := &awsapigateway.MethodOptions{
			ApiKeyRequired:    jsii.Bool(r.APIKeyRequired),
			RequestValidator:  validator,
			RequestParameters: &params,
			AuthorizationType: awsapigateway.AuthorizationType_NONE,
		}
		switch r.Auth {
		case apispec.AuthCognito:
			opts.AuthorizationType = awsapigateway.AuthorizationType_COGNITO
			opts.Authorizer = authorizer
		case apispec.AuthNone:
		default:
			panic(fmt.Errorf("route %s: auth %d is not mapped", r.Key(), r.Auth))
		}
		res := a.rest.Root().ResourceForPath(jsii.String(r.Path))
		a.methods[r.Key()] = res.AddMethod(jsii.String(r.Method), awsapigateway.NewLambdaIntegration(fn, integ), opts)
	}

	// The mobile app's usage plan: its key is required on the buyer routes
	// under /sales/{saleId}/ (apispec's APIKeyRequired).
	plan := a.rest.AddUsagePlan(jsii.String("AppPlan"), &awsapigateway.UsagePlanProps{
		Name:        jsii.String(*s.st.StackName() + "-mobile-app"),
		Description: jsii.String("Mobile app: throttle and daily quota from apispec"),
		Throttle: &awsapigateway.ThrottleSettings{
			RateLimit:  jsii.Number(s.limits.App.RateLimit),
			BurstLimit: jsii.Number(s.limits.App.BurstLimit),
		},
		Quota: &awsapigateway.QuotaSettings{
			Limit:  jsii.Number(s.limits.App.QuotaPerDay),
			Period: awsapigateway.Period_DAY,
		},
		ApiStages: &[]*awsapigateway.UsagePlanPerApiStage{{Api: a.rest, Stage: a.rest.DeploymentStage()}},
	})
	key := a.rest.AddApiKey(jsii.String("AppKey"), &awsapigateway.ApiKeyOptions{
		Description: jsii.String("flashsale mobile app"),
	})
	plan.AddApiKey(key, nil)

	s.newExecutionLogGroup(a.rest)
	s.newSamplingRule(a.rest)
	s.newWAF(a.rest.DeploymentStage(), bans)

	out := func(id string, v *string, desc string) {
		awscdk.NewCfnOutput(s.st, jsii.String(id), &awscdk.CfnOutputProps{Value: v, Description: jsii.String(desc)})
	}
	out("ApiUrl", a.rest.Url(), "REST API base URL")
	out("ApiKeyId", key.KeyId(), "mobile app API key ID (aws apigateway get-api-key --include-value)")
	return a
}

// accessLogFormat is one JSON object per request. json.Marshal sorts the keys
// and quotes correctly, which hand-written JSON with $context variables tends
// to get wrong.
func accessLogFormat() string {
	b, err := json.Marshal(map[string]string{
		"requestId":          "$context.requestId",
		"extendedRequestId":  "$context.extendedRequestId",
		"requestTime":        "$context.requestTimeEpoch",
		"ip":                 "$context.identity.sourceIp",
		"userAgent":          "$context.identity.userAgent",
		"apiKeyId":           "$context.identity.apiKeyId",
		"user":               "$context.authorizer.claims.sub",
		"method":             "$context.httpMethod",
		"resource":           "$context.resourcePath",
		"path":               "$context.path",
		"status":             "$context.status",
		"protocol":           "$context.protocol",
		"responseLength":     "$context.responseLength",
		"responseLatency":    "$context.responseLatency",
		"integrationLatency": "$context.integration.latency",
		"integrationStatus":  "$context.integration.status",
		"integrationError":   "$context.integration.error",
		"authorizerError":    "$context.authorizer.error",
		"errorType":          "$context.error.responseType",
		"errorMessage":       "$context.error.message",
		"wafStatus":          "$context.waf.status",
	})
	if err != nil {
		panic(fmt.Errorf("access log format: %w", err))
	}
	return string(b)
}

// newExecutionLogGroup creates the log group API Gateway writes the stage's
// execution logs to (LoggingLevel ERROR), with the stage's retention. Left
// to API Gateway, it is created on the first logged request, unmanaged and
// kept forever. The stage depends on it, so the group exists before API
// Gateway could create it first.
func (s *stack) newExecutionLogGroup(rest awsapigateway.RestApi) awslogs.LogGroup {
	stage := rest.DeploymentStage()
	lg := awslogs.NewLogGroup(s.st, jsii.String("ApiExecutionLogs"), &awslogs.LogGroupProps{
		LogGroupName:  awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("API-Gateway-Execution-Logs_"), rest.RestApiId(), jsii.String("/" + s.props.Stage)}),
		Retention:     s.logRetention(),
		RemovalPolicy: s.removal,
	})
	stage.Node().AddDependency(lg)
	return lg
}

// Tracing a sale day: X-Ray's default rule records the first request each
// second and 5% of the rest, about 400 traces/s at 8,000 purchases/s
// (~1.4 M traces an hour, ~$7/h at $5 per million). The stage's own rule
// keeps the first each second and 1% of the rest: about 80/s at that peak,
// still thousands of traces of every route in a sale's first minute, at a
// fifth of the cost. The functions behind the API follow the stage's
// decision (the trace header), so this rule samples the purchase path.
const (
	SamplingFixedRate = 0.01
	SamplingReservoir = 1
	// SamplingPriority is below (before) X-Ray's default rule (10000).
	SamplingPriority = 100
)

// newSamplingRule creates the stage's X-Ray sampling rule.
func (s *stack) newSamplingRule(rest awsapigateway.RestApi) {
	stage := rest.DeploymentStage()
	awsxray.NewCfnSamplingRule(s.st, jsii.String("ApiSampling"), &awsxray.CfnSamplingRuleProps{
		SamplingRule: &awsxray.CfnSamplingRule_SamplingRuleProperty{
			// Rule names are per account and region, at most 32 characters.
			RuleName:      jsii.String(*s.st.StackName() + "-api"),
			Priority:      jsii.Number(SamplingPriority),
			FixedRate:     jsii.Number(SamplingFixedRate),
			ReservoirSize: jsii.Number(SamplingReservoir),
			// API Gateway names the service {api-name}/{stage-name}.
			ServiceName: jsii.String(*rest.RestApiName() + "/" + s.props.Stage),
			ServiceType: jsii.String("AWS::ApiGateway::Stage"),
			ResourceArn: stage.StageArn(),
			Host:        jsii.String("*"),
			HttpMethod:  jsii.String("*"),
			UrlPath:     jsii.String("*"),
			Version:     jsii.Number(1),
		},
	})
}

// createdAtAttribute is the custom attribute behind the custom:created_at
// claim (app.CreatedAtAttribute without its "custom:" prefix).
const createdAtAttribute = "created_at"

// newUserPool creates the buyers' and staff's user pool, its groups and the
// mobile app client. A buyer's sign-up time goes into custom:created_at,
// which a sale's minimum account age reads: the post-confirmation trigger
// (account-created) writes it, and the app client may read it but not
// write it, so no buyer can pick their own age.
func (s *stack) newUserPool(fns *functions) awscognito.UserPool {
	trigger := fns.byName[apispec.FunctionAccountCreated]
	pool := awscognito.NewUserPool(s.st, jsii.String("Users"), &awscognito.UserPoolProps{
		CustomAttributes: &map[string]awscognito.ICustomAttribute{
			createdAtAttribute: awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
				Mutable: jsii.Bool(true), MinLen: jsii.Number(1), MaxLen: jsii.Number(20),
			}),
		},
		LambdaTriggers:    &awscognito.UserPoolTriggers{PostConfirmation: trigger},
		SelfSignUpEnabled: jsii.Bool(true), // buyers register in the app
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength:        jsii.Number(12),
			RequireLowercase: jsii.Bool(true),
			RequireUppercase: jsii.Bool(true),
			RequireDigits:    jsii.Bool(true),
			RequireSymbols:   jsii.Bool(true),
		},
		Mfa:             awscognito.Mfa_OPTIONAL,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		// Lite: the cheapest per monthly active user; the API needs nothing
		// from the richer plans.
		FeaturePlan:        awscognito.FeaturePlan_LITE,
		DeletionProtection: jsii.Bool(s.removal == awscdk.RemovalPolicy_RETAIN),
		RemovalPolicy:      s.removal,
		Email:              s.userPoolEmail(),
	})
	for _, g := range []struct{ id, name, desc string }{
		{"AdminGroup", apispec.GroupAdmin, "Creates, restocks and settles sales"},
		{"FinanceGroup", apispec.GroupFinance, "Reads settlement reports"},
	} {
		pool.AddGroup(jsii.String(g.id), &awscognito.UserPoolGroupOptions{
			GroupName:   jsii.String(g.name),
			Description: jsii.String(g.desc),
		})
	}
	// The mobile app signs in with SRP (no password leaves the phone) or
	// through the authorization code grant with PKCE, and keeps the session
	// with refresh tokens (ALLOW_REFRESH_TOKEN_AUTH, which the CDK adds to
	// any list of flows). No implicit grant, which hands tokens over in a
	// redirect URL, and no client secret, which an app cannot keep. Cognito
	// has no setting that requires PKCE; a public client without a secret
	// must send it, and the app always does (docs/deploy.md).
	callbacks := jsii.Strings(s.props.AppCallbackURLs...)
	client := pool.AddClient(jsii.String("MobileApp"), &awscognito.UserPoolClientOptions{
		GenerateSecret: jsii.Bool(false),
		AuthFlows:      &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		OAuth: &awscognito.OAuthSettings{
			Flows: &awscognito.OAuthFlows{
				AuthorizationCodeGrant: jsii.Bool(true),
				ImplicitCodeGrant:      jsii.Bool(false),
				ClientCredentials:      jsii.Bool(false),
			},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: callbacks,
			LogoutUrls:   jsii.Strings(s.props.AppLogoutURLs...),
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		PreventUserExistenceErrors: jsii.Bool(true),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)),
		ReadAttributes: awscognito.NewClientAttributes().
			WithStandardAttributes(&awscognito.StandardAttributesMask{Email: jsii.Bool(true), EmailVerified: jsii.Bool(true)}).
			WithCustomAttributes(jsii.String(createdAtAttribute)),
		WriteAttributes: awscognito.NewClientAttributes().
			WithStandardAttributes(&awscognito.StandardAttributesMask{Email: jsii.Bool(true)}),
	})
	// The pool's ARN would make a cycle (the pool names the trigger, the
	// trigger's policy the pool), so the policy names the account's pools
	// in this region; the trigger acts only on the pool in its event.
	trigger.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("cognito-idp:AdminUpdateUserAttributes"),
		Resources: jsii.Strings(*s.st.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("cognito-idp"), Resource: jsii.String("userpool"), ResourceName: jsii.String("*"),
		})),
	}))
	awscdk.NewCfnOutput(s.st, jsii.String("UserPoolId"), &awscdk.CfnOutputProps{Value: pool.UserPoolId()})
	awscdk.NewCfnOutput(s.st, jsii.String("UserPoolClientId"), &awscdk.CfnOutputProps{Value: client.UserPoolClientId()})
	return pool
}

// CognitoEmailWarning is the ID of prod's synth warning when Cognito would
// send its emails itself.
const CognitoEmailWarning = "flashsale:cognito-default-email"

// userPoolEmail sends the pool's emails through SES when sesFromAddress is
// given (Cognito's DEVELOPER sending account: SES's quotas, this account's
// reputation). Without it Cognito's built-in sender is used, whose daily
// limit AWS documents as below production volume: fine for dev, a warning
// for prod, where sign-up codes that never arrive are lost buyers.
func (s *stack) userPoolEmail() awscognito.UserPoolEmail {
	if s.props.SESFromAddress == "" {
		if s.props.Stage == "prod" {
			awscdk.Annotations_Of(s.st).AddWarningV2(jsii.String(CognitoEmailWarning), jsii.String(
				"no sesFromAddress context: Cognito sends sign-up codes and password resets with its built-in sender, "+
					"whose daily email limit AWS documents as below production volume; verify an SES identity and pass "+
					"-c sesFromAddress=<address> -c sesRegion=<its region> (docs/deploy.md)"))
		}
		return nil
	}
	opts := &awscognito.UserPoolSESOptions{
		FromEmail: jsii.String(s.props.SESFromAddress),
		FromName:  jsii.String("flashsale"),
	}
	if s.props.SESRegion != "" {
		opts.SesRegion = jsii.String(s.props.SESRegion)
	}
	return awscognito.UserPoolEmail_WithSES(opts)
}

// wafScope is the scope of the WebACL and its IP sets: REGIONAL, as the REST
// API is regional.
const wafScope = "REGIONAL"

// ipSets are the WebACL's IP sets of banned addresses, one per IP version.
// CloudFormation creates them empty; the ip-ban-sync function owns their
// addresses from then on (docs/deploy.md, "Bans").
type ipSets struct {
	v4, v6 awswafv2.CfnIPSet
}

// ipSetName names an IP set after the stack, so dev and prod can share an
// account; WAF names allow letters, digits, "-" and "_".
func (s *stack) ipSetName(version string) string {
	return *s.st.StackName() + "-banned-" + version
}

// newIPSets creates the two empty IP sets that rule 0 of the WebACL blocks.
func (s *stack) newIPSets() *ipSets {
	set := func(id, version, ipVersion string) awswafv2.CfnIPSet {
		return awswafv2.NewCfnIPSet(s.st, jsii.String(id), &awswafv2.CfnIPSetProps{
			Name:             jsii.String(s.ipSetName(version)),
			Description:      jsii.String("flashsale banned " + version + " addresses, kept in line with the ban items by the ip-ban-sync function"),
			Scope:            jsii.String(wafScope),
			IpAddressVersion: jsii.String(ipVersion),
			// Empty at deploy: the bans live in the Orders table, and the
			// sync (at once after a change, and every apispec.BanSyncEvery)
			// writes them here. A deploy that updates a set resets it to
			// this list until the next sync.
			Addresses: &[]*string{},
		})
	}
	return &ipSets{v4: set("BannedIPv4", "ipv4", "IPV4"), v6: set("BannedIPv6", "ipv6", "IPV6")}
}

// newWAF protects the stage with the ban rule (rule 0: the banned IP sets),
// a per-IP rate rule and AWS's common rule set.
func (s *stack) newWAF(stage awsapigateway.Stage, bans *ipSets) {
	visibility := func(name string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
		return &awswafv2.CfnWebACL_VisibilityConfigProperty{
			CloudWatchMetricsEnabled: jsii.Bool(true),
			MetricName:               jsii.String(name),
			SampledRequestsEnabled:   jsii.Bool(true),
		}
	}
	ipSetRef := func(set awswafv2.CfnIPSet) *awswafv2.CfnWebACL_StatementProperty {
		return &awswafv2.CfnWebACL_StatementProperty{IpSetReferenceStatement: &awswafv2.CfnWebACL_IPSetReferenceStatementProperty{Arn: set.AttrArn()}}
	}
	acl := awswafv2.NewCfnWebACL(s.st, jsii.String("WebAcl"), &awswafv2.CfnWebACLProps{
		Scope:            jsii.String(wafScope),
		Description:      jsii.String("flashsale API: IP bans, per-IP rate limit and AWS common rules"),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: &awswafv2.CfnWebACL_AllowActionProperty{}},
		VisibilityConfig: visibility(strings.ReplaceAll(*s.st.StackName(), "-", "") + "Acl"),
		// Blocked callers get the bodies the local gateway sends: 403 for a
		// ban, and for the rate rule the same 429 body API Gateway's
		// throttle sends.
		CustomResponseBodies: map[string]*awswafv2.CfnWebACL_CustomResponseBodyProperty{
			"forbidden":       {ContentType: jsii.String("APPLICATION_JSON"), Content: jsii.String(`{"message":"Forbidden"}`)},
			"tooManyRequests": {ContentType: jsii.String("APPLICATION_JSON"), Content: jsii.String(`{"message":"Too Many Requests"}`)},
		},
		// WAF evaluates rules by priority and stops at the first block, so
		// the ban rule comes first: banned requests never reach the rate
		// rule and do not count toward it (DESIGN, "Perimeter (v2)").
		Rules: &[]any{
			&awswafv2.CfnWebACL_RuleProperty{
				Name:     jsii.String("banned-ip"),
				Priority: jsii.Number(0),
				Action: &awswafv2.CfnWebACL_RuleActionProperty{Block: &awswafv2.CfnWebACL_BlockActionProperty{
					CustomResponse: &awswafv2.CfnWebACL_CustomResponseProperty{
						ResponseCode:          jsii.Number(403),
						CustomResponseBodyKey: jsii.String("forbidden"),
					},
				}},
				Statement: &awswafv2.CfnWebACL_StatementProperty{OrStatement: &awswafv2.CfnWebACL_OrStatementProperty{
					Statements: &[]any{ipSetRef(bans.v4), ipSetRef(bans.v6)},
				}},
				VisibilityConfig: visibility("BannedIp"),
			},
			&awswafv2.CfnWebACL_RuleProperty{
				Name:     jsii.String("per-ip-rate"),
				Priority: jsii.Number(1),
				Action: &awswafv2.CfnWebACL_RuleActionProperty{Block: &awswafv2.CfnWebACL_BlockActionProperty{
					CustomResponse: &awswafv2.CfnWebACL_CustomResponseProperty{
						ResponseCode:          jsii.Number(429),
						CustomResponseBodyKey: jsii.String("tooManyRequests"),
					},
				}},
				Statement: &awswafv2.CfnWebACL_StatementProperty{RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
					Limit:               jsii.Number(s.props.WAFRateLimit), // wafRateLimit, default apispec's
					AggregateKeyType:    jsii.String("IP"),
					EvaluationWindowSec: jsii.Number(300), // apispec's limit is per 5 minutes
				}},
				VisibilityConfig: visibility("PerIpRate"),
			},
			&awswafv2.CfnWebACL_RuleProperty{
				Name:           jsii.String("aws-common"),
				Priority:       jsii.Number(2),
				OverrideAction: &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]any{}},
				Statement: &awswafv2.CfnWebACL_StatementProperty{ManagedRuleGroupStatement: &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{
					VendorName: jsii.String("AWS"),
					Name:       jsii.String("AWSManagedRulesCommonRuleSet"),
					// The set blocks bodies over 8 KB; the contract answers
					// 413 body_too_large above 10 KB from the handler, so
					// this rule only counts.
					RuleActionOverrides: &[]any{&awswafv2.CfnWebACL_RuleActionOverrideProperty{
						Name:        jsii.String("SizeRestrictions_BODY"),
						ActionToUse: &awswafv2.CfnWebACL_RuleActionProperty{Count: &awswafv2.CfnWebACL_CountActionProperty{}},
					}},
				}},
				VisibilityConfig: visibility("AwsCommon"),
			},
		},
	})
	awswafv2.NewCfnWebACLAssociation(s.st, jsii.String("WebAclStage"), &awswafv2.CfnWebACLAssociationProps{
		ResourceArn: stage.StageArn(),
		WebAclArn:   acl.AttrArn(),
	})
}
