package awsclient

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestCallsOf: a transaction is authorized item by item, as that item's
// action on its table; other calls name their resource from the input.
func TestCallsOf(t *testing.T) {
	tests := []struct {
		name    string
		service string
		op      string
		params  any
		want    []Call
	}{
		{"transaction", "DynamoDB", "TransactWriteItems", &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String("t-Orders")}},
			{Update: &types.Update{TableName: aws.String("t-Sales")}},
			{Delete: &types.Delete{TableName: aws.String("t-Orders")}},
		}}, []Call{
			{Action: "dynamodb:PutItem", Resource: "t-Orders", Operation: "DynamoDB.TransactWriteItems"},
			{Action: "dynamodb:UpdateItem", Resource: "t-Sales", Operation: "DynamoDB.TransactWriteItems"},
			{Action: "dynamodb:DeleteItem", Resource: "t-Orders", Operation: "DynamoDB.TransactWriteItems"},
		}},
		{"batch", "DynamoDB", "BatchGetItem", &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{"t-Sales": {}}},
			[]Call{{Action: "dynamodb:BatchGetItem", Resource: "t-Sales", Operation: "DynamoDB.BatchGetItem"}}},
		{"table", "DynamoDB", "GetItem", &dynamodb.GetItemInput{TableName: aws.String("t-Sales")},
			[]Call{{Action: "dynamodb:GetItem", Resource: "t-Sales", Operation: "DynamoDB.GetItem"}}},
		{"queue", "SQS", "SendMessage", &sqs.SendMessageInput{QueueUrl: aws.String("http://q/t-orders.fifo")},
			[]Call{{Action: "sqs:SendMessage", Resource: "http://q/t-orders.fifo", Operation: "SQS.SendMessage"}}},
		{"service name", "Cognito Identity Provider", "AdminUpdateUserAttributes", struct{ UserPoolId *string }{aws.String("pool")},
			[]Call{{Action: "cognito-idp:AdminUpdateUserAttributes", Resource: "pool", Operation: "Cognito Identity Provider.AdminUpdateUserAttributes"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := callsOf(tc.service, tc.op, tc.params); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
