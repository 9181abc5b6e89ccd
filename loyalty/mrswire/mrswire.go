// Package mrswire is the rewards host's wire format (MRS API v2.0 as the rewards seed shows it):
// SOAP 1.1 envelopes over HTTP POST, the operations in the customer namespace (prefix cus:),
// status codes as strings. Both cardswitch's client (package loyalty) and the simulator
// (simulators/mrs) speak it; neither knows the other.
package mrswire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespaces of the envelope and of the operations.
const (
	SOAPNS = "http://schemas.xmlsoap.org/soap/envelope/"
	CusNS  = "http://mrs.mastercard.com/rewards/customer/v2"
)

// Paths under the host's URL (loyalty.rewardsHost): the SOAP endpoint, and the PEM public key
// bankAccountNumber envelopes are sealed to (ours: the seed names Mastercard's key by refid).
const (
	PathSOAP      = "/mrs/v2"
	PathPublicKey = "/mrs/public-key"
)

// The ten operations of seed §7.
const (
	OpEnroll                         = "enroll"
	OpGetCustomerAccounts            = "getCustomerAccounts"
	OpGetCustomerDetails             = "getCustomerDetails"
	OpUpdateCustomerAccount          = "updateCustomerAccount"
	OpGetRewardCatalog               = "getRewardCatalog"
	OpGetRewardItems                 = "getRewardItems"
	OpGetPointDetails                = "getPointDetails"
	OpMoveAccountToExistingHousehold = "moveAccountToExistingHousehold"
	OpRemoveAccountFromHousehold     = "removeAccountFromHousehold"
	OpUpdateHouseholdRole            = "updateHouseholdRole"
)

// Ops lists the operations.
var Ops = []string{OpEnroll, OpGetCustomerAccounts, OpGetCustomerDetails, OpUpdateCustomerAccount,
	OpGetRewardCatalog, OpGetRewardItems, OpGetPointDetails, OpMoveAccountToExistingHousehold,
	OpRemoveAccountFromHousehold, OpUpdateHouseholdRole}

// Status codes of seed §7.1, sent as strings.
const (
	StatusSuccess                  = "0"
	StatusInvalidParameters        = "-1"
	StatusAccountNotFound          = "-5"
	StatusInvalidAccountStatus     = "-10"
	StatusInvalidProgramID         = "-32"
	StatusInvalidBankAccountNumber = "-44"
	StatusAccountAlreadyEnrolled   = "-45"
	StatusInvalidBankProductCode   = "-46"
	StatusInvalidAccountStatusCode = "-47"
	StatusInvalidProgramIdentifier = "-48"
	StatusCustomerAlreadyEnrolled  = "-50"
	StatusAccountNotQualified      = "-52"
	StatusBankAccountDoesNotExist  = "-85"
	StatusServerError              = "-1001"
)

// StatusCodes lists every code of the seed.
var StatusCodes = []string{StatusSuccess, StatusInvalidParameters, StatusAccountNotFound, StatusInvalidAccountStatus,
	StatusInvalidProgramID, StatusInvalidBankAccountNumber, StatusAccountAlreadyEnrolled, StatusInvalidBankProductCode,
	StatusInvalidAccountStatusCode, StatusInvalidProgramIdentifier, StatusCustomerAlreadyEnrolled,
	StatusAccountNotQualified, StatusBankAccountDoesNotExist, StatusServerError}

// Account statuses (updateCustomerAccount's accountStatusCode).
const (
	AccountActive    = "ACTIVE"
	AccountCancelled = "CANCELLED"
)

// Field is one element of a request: <cus:name>value</cus:name>; Encrypted adds the seed's
// encrypted="true" attribute (bankAccountNumber carrying the {"key","data"} envelope).
type Field struct {
	Name, Value string
	Encrypted   bool
}

// EncodeRequest writes the SOAP request of op with its fields, in the seed's form:
// <soapenv:Envelope ...><soapenv:Body><cus:op><cus:field>...</cus:op></soapenv:Body></soapenv:Envelope>.
func EncodeRequest(op string, fields []Field) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + SOAPNS + `" xmlns:cus="` + CusNS + `"><soapenv:Header/><soapenv:Body>`)
	b.WriteString("<cus:" + op + ">")
	for _, f := range fields {
		if f.Encrypted {
			b.WriteString("<cus:" + f.Name + ` encrypted="true">`)
		} else {
			b.WriteString("<cus:" + f.Name + ">")
		}
		textEscaper.WriteString(&b, f.Value)
		b.WriteString("</cus:" + f.Name + ">")
	}
	b.WriteString("</cus:" + op + "></soapenv:Body></soapenv:Envelope>")
	return b.Bytes()
}

// textEscaper escapes element text as the seed writes it: quotes stay (the envelope's JSON
// reads as JSON), only &, < and > are escaped.
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Request is a decoded request: its operation and its fields by name (the last of a repeated
// name wins), with the encrypted attribute.
type Request struct {
	Op        string
	Fields    map[string]string
	Encrypted map[string]bool
}

// MaxBodyBytes bounds an envelope (either way); larger is refused.
const MaxBodyBytes = 1 << 20

// ErrMalformed is a body that is not a SOAP envelope of one operation in the customer namespace.
var ErrMalformed = errors.New("mrswire: malformed envelope")

// DecodeRequest reads a request envelope: exactly one operation element in the customer
// namespace inside the Body, its children simple elements.
func DecodeRequest(body []byte) (Request, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	r := Request{Fields: map[string]string{}, Encrypted: map[string]bool{}}
	depth := 0 // 1 Envelope, 2 Body/Header, 3 operation, 4 field
	inBody := false
	var field string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Request{}, ErrMalformed
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && (t.Name.Space != SOAPNS || t.Name.Local != "Envelope"):
				return Request{}, ErrMalformed
			case depth == 2:
				inBody = t.Name.Space == SOAPNS && t.Name.Local == "Body"
			case depth == 3 && inBody:
				if r.Op != "" || t.Name.Space != CusNS {
					return Request{}, ErrMalformed
				}
				r.Op = t.Name.Local
			case depth == 4 && inBody:
				field = t.Name.Local
				text.Reset()
				for _, a := range t.Attr {
					if a.Name.Local == "encrypted" && a.Value == "true" {
						r.Encrypted[field] = true
					}
				}
			case depth > 4 && inBody:
				return Request{}, ErrMalformed
			}
		case xml.CharData:
			if depth == 4 && inBody {
				text.Write(t)
			}
		case xml.EndElement:
			if depth == 4 && inBody {
				r.Fields[field] = strings.TrimSpace(text.String())
			}
			depth--
		}
	}
	if r.Op == "" {
		return Request{}, ErrMalformed
	}
	return r, nil
}

// Account is an account of getCustomerAccounts.
type Account struct {
	AccountID     string `xml:"accountId"`
	RANAC         string `xml:"ranac"`
	HouseholdID   string `xml:"householdId"`
	CustomerID    string `xml:"customerId"`
	AccountStatus string `xml:"accountStatus"`
	ProgramID     string `xml:"programId"`
	Last4         string `xml:"last4"`
	RoleID        string `xml:"roleId"`
}

// Customer is getCustomerDetails' customer.
type Customer struct {
	CustomerID         string `xml:"customerId"`
	BankCustomerNumber string `xml:"bankCustomerNumber"`
	CustomerStatus     string `xml:"customerStatus"`
	FirstName          string `xml:"firstName"`
	LastName           string `xml:"lastName"`
	Email              string `xml:"emailAddress"`
}

// Category is a reward catalog category.
type Category struct {
	CategoryID  string `xml:"rewardCategoryId"`
	Description string `xml:"rewardCategoryDescription"`
}

// Item is a reward item with the attributes of seed §6.5 (the image URL's name is ours).
type Item struct {
	RewardMatrixItemID               string `xml:"rewardMatrixItemId"`
	CategoryID                       string `xml:"rewardCategoryId"`
	RewardItemShortDescription       string `xml:"rewardItemShortDescription"`
	RewardItemLongDescription        string `xml:"rewardItemLongDescription"`
	ImageURL                         string `xml:"rewardItemImageUrl"`
	RewardMatrixItemPointValue       int64  `xml:"rewardMatrixItemPointValue"`
	ShippingAddressSw                string `xml:"shippingAddressSw"`
	RedeemableItemSw                 string `xml:"redeemableItemSw"`
	PhysicalAddressRequiredSw        string `xml:"physicalAddressRequiredSw"`
	SingleQuantityRedemptionSw       string `xml:"SingleQuantityRedemptionSw"`
	EmailAddressRequiredSw           string `xml:"emailAddressRequiredSw"`
	OrderInformation                 string `xml:"orderInformation"`
	PersonalizationInformationSw     string `xml:"personalizationInformationSw"`
	PersonalizationInformationLength int    `xml:"personalizationInformationLength"`
	PersonalizationLabel             string `xml:"personalizationLabel"`
}

// Response is every operation's response (each uses its own fields): <cus:opResponse> with
// statusCode first.
type Response struct {
	XMLName        xml.Name
	StatusCode     string     `xml:"statusCode"`
	StatusMessage  string     `xml:"statusMessage,omitempty"`
	RANAC          string     `xml:"ranac,omitempty"`
	AccountID      string     `xml:"accountId,omitempty"`
	HouseholdID    string     `xml:"householdId,omitempty"`
	CustomerID     string     `xml:"customerId,omitempty"`
	NewHouseholdID string     `xml:"newHouseholdId,omitempty"`
	Success        string     `xml:"success,omitempty"`
	AccountStatus  string     `xml:"accountStatus,omitempty"`
	Points         string     `xml:"pointBalance,omitempty"`
	Accounts       []Account  `xml:"accounts>account,omitempty"`
	Customer       *Customer  `xml:"customer,omitempty"`
	Categories     []Category `xml:"categories>category,omitempty"`
	Items          []Item     `xml:"rewardItems>rewardItem,omitempty"`
}

type envelopeOut struct {
	XMLName xml.Name `xml:"soapenv:Envelope"`
	NS      string   `xml:"xmlns:soapenv,attr"`
	CusNS   string   `xml:"xmlns:cus,attr"`
	Body    struct {
		Resp *Response
	} `xml:"soapenv:Body"`
}

// EncodeResponse writes op's response envelope.
func EncodeResponse(op string, r Response) []byte {
	r.XMLName = xml.Name{Local: "cus:" + op + "Response"}
	env := envelopeOut{NS: SOAPNS, CusNS: CusNS}
	env.Body.Resp = &r
	out, err := xml.Marshal(env)
	if err != nil {
		panic("mrswire: response not encodable: " + err.Error()) // plain strings and numbers only
	}
	return append([]byte(xml.Header), out...)
}

// DecodeResponse reads op's response envelope.
func DecodeResponse(op string, body []byte) (Response, error) {
	var env struct {
		XMLName xml.Name `xml:"Envelope"`
		Body    struct {
			Resp Response `xml:",any"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(body, &env); err != nil || env.XMLName.Space != SOAPNS {
		return Response{}, ErrMalformed
	}
	r := env.Body.Resp
	if r.XMLName.Local != op+"Response" || r.XMLName.Space != CusNS || r.StatusCode == "" {
		return Response{}, fmt.Errorf("%w: not a %sResponse", ErrMalformed, op)
	}
	return r, nil
}
