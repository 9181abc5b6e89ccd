package mrswire

import (
	"strings"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	raw := EncodeRequest(OpEnroll, []Field{{Name: "programId", Value: "DEMO-PROGRAM"},
		{Name: "bankAccountNumber", Value: `{"key":"k","data":"d<&>"}`, Encrypted: true}})
	if !strings.Contains(string(raw), `<cus:bankAccountNumber encrypted="true">{"key":"k","data":"d&lt;&amp;&gt;"}</cus:bankAccountNumber>`) {
		t.Fatalf("%s", raw)
	}
	r, err := DecodeRequest(raw)
	if err != nil || r.Op != OpEnroll || r.Fields["programId"] != "DEMO-PROGRAM" ||
		r.Fields["bankAccountNumber"] != `{"key":"k","data":"d<&>"}` || !r.Encrypted["bankAccountNumber"] || r.Encrypted["programId"] {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestDecodeRequestRefusesOtherShapes(t *testing.T) {
	for _, body := range []string{
		"", "not xml", `<Envelope/>`,
		`<soapenv:Envelope xmlns:soapenv="` + SOAPNS + `"><soapenv:Body></soapenv:Body></soapenv:Envelope>`,
		`<soapenv:Envelope xmlns:soapenv="` + SOAPNS + `"><soapenv:Body><x:enroll xmlns:x="urn:other"/></soapenv:Body></soapenv:Envelope>`,
		`<soapenv:Envelope xmlns:soapenv="` + SOAPNS + `" xmlns:cus="` + CusNS + `"><soapenv:Body><cus:enroll/><cus:enroll/></soapenv:Body></soapenv:Envelope>`,
		`<soapenv:Envelope xmlns:soapenv="` + SOAPNS + `" xmlns:cus="` + CusNS + `"><soapenv:Body><cus:enroll><cus:a><cus:b/></cus:a></cus:enroll></soapenv:Body></soapenv:Envelope>`,
	} {
		if _, err := DecodeRequest([]byte(body)); err == nil {
			t.Errorf("decoded %q", body)
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	in := Response{StatusCode: StatusCustomerAlreadyEnrolled, RANAC: "03643782610476418733",
		Accounts: []Account{{AccountID: "A1", RANAC: "R1"}}, Items: []Item{{RewardMatrixItemID: "I1", RewardMatrixItemPointValue: 500, SingleQuantityRedemptionSw: "Y"}}}
	raw := EncodeResponse(OpEnroll, in)
	if !strings.Contains(string(raw), "<cus:enrollResponse>") || !strings.Contains(string(raw), "<statusCode>-50</statusCode>") {
		t.Fatalf("%s", raw)
	}
	out, err := DecodeResponse(OpEnroll, raw)
	if err != nil || out.StatusCode != "-50" || out.RANAC != in.RANAC || len(out.Accounts) != 1 || out.Accounts[0].RANAC != "R1" ||
		len(out.Items) != 1 || out.Items[0].RewardMatrixItemPointValue != 500 || out.Items[0].SingleQuantityRedemptionSw != "Y" {
		t.Fatalf("%+v %v", out, err)
	}
	if _, err := DecodeResponse(OpGetPointDetails, raw); err == nil {
		t.Fatal("an enrollResponse read as getPointDetailsResponse")
	}
}
