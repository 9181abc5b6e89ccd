package ledger

import "maps"

// Delivery of plastics (seed "Order physical card": "card will be transferred to user by courier
// or post office") and the personalisation bureau's reference (seed "Link card").
//
// Both are kept in the card's Labels, which the rowstore and the journal already store (sealed
// with the data key, like the rest of the card, so the address is encrypted at rest): no new
// column for a few cards' worth of text, and no new journal row format. The typed accessors
// below are the only code that reads or writes those labels.

// DeliveryMethod is how a plastic reaches the cardholder.
type DeliveryMethod string

// Delivery methods.
const (
	DeliveryCourier DeliveryMethod = "COURIER"
	DeliveryPost    DeliveryMethod = "POST"
)

// Valid reports whether m is a known delivery method.
func (m DeliveryMethod) Valid() bool { return m == DeliveryCourier || m == DeliveryPost }

// Delivery is where and how a plastic (a PHYSICAL or DIGITAL_FIRST card) is sent.
type Delivery struct {
	Method     DeliveryMethod
	Name       string // the addressee as printed on the envelope
	Line1      string
	Line2      string
	PostalCode string
	City       string
	Country    string // ISO 3166-1 alpha-2
}

// The label keys.
const (
	labelDeliveryMethod     = "delivery.method"
	labelDeliveryName       = "delivery.name"
	labelDeliveryLine1      = "delivery.line1"
	labelDeliveryLine2      = "delivery.line2"
	labelDeliveryPostalCode = "delivery.postalCode"
	labelDeliveryCity       = "delivery.city"
	labelDeliveryCountry    = "delivery.country"
	labelBureauReference    = "bureau.reference"
)

// Delivery returns the card's delivery, if one was given when it was ordered.
func (c *Card) Delivery() (Delivery, bool) {
	m, ok := c.Labels[labelDeliveryMethod]
	if !ok {
		return Delivery{}, false
	}
	l := c.Labels
	return Delivery{Method: DeliveryMethod(m), Name: l[labelDeliveryName], Line1: l[labelDeliveryLine1],
		Line2: l[labelDeliveryLine2], PostalCode: l[labelDeliveryPostalCode], City: l[labelDeliveryCity],
		Country: l[labelDeliveryCountry]}, true
}

// BureauReference is the personalisation bureau's reference of a linked PHYSICAL card ("" when
// none was given).
func (c *Card) BureauReference() string { return c.Labels[labelBureauReference] }

// setLabels sets labels on a copy of the card's map: a card read from a Tx may share its map
// with the batch's copy, which must not change under it.
func (c *Card) setLabels(kv ...string) {
	l := maps.Clone(c.Labels)
	if l == nil {
		l = make(map[string]string, len(kv)/2)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(l, kv[i])
			continue
		}
		l[kv[i]] = kv[i+1]
	}
	c.Labels = l
}

func (c *Card) setDelivery(d Delivery) {
	c.setLabels(labelDeliveryMethod, string(d.Method), labelDeliveryName, d.Name, labelDeliveryLine1, d.Line1,
		labelDeliveryLine2, d.Line2, labelDeliveryPostalCode, d.PostalCode, labelDeliveryCity, d.City,
		labelDeliveryCountry, d.Country)
}

// IssueWithDelivery issues a plastic (Issue: an IssueCard of a PHYSICAL card or an
// IssueDigitalFirst) and records its delivery in the same batch. The caller has validated the
// delivery; a method that is not known is refused here too, so no card is stored without a
// usable one.
type IssueWithDelivery struct {
	Issue    Command[Result[Card]]
	Delivery Delivery
}

func (c IssueWithDelivery) Kind() OpKind { return c.Issue.Kind() }
func (c IssueWithDelivery) Keys(k *Keys) { c.Issue.Keys(k) }

func (c IssueWithDelivery) Apply(tx *Tx, env *Env) Result[Card] {
	if !c.Delivery.Method.Valid() {
		return result(Card{}, &Refusal{Kind: Invalid, Code: "INVALID_DELIVERY_METHOD",
			Message: "delivery.method must be COURIER or POST", Field: "delivery.method"})
	}
	r := c.Issue.Apply(tx, env)
	if r.Refusal != nil {
		return r
	}
	if r.Value.Type != CardPhysical && r.Value.Type != CardDigitalFirst {
		panic("ledger: IssueWithDelivery of a " + r.Value.Type + " card")
	}
	card := r.Value
	card.setDelivery(c.Delivery)
	tx.PutCard(card)
	return result(card, nil)
}

// LinkPhysicalCard records the personalisation bureau's confirmation that a PHYSICAL card was
// made (Tx.PersonaliseCard: from then on the cardholder sees it and can activate it) with the
// bureau's reference, kept on the card.
type LinkPhysicalCard struct {
	CardID    string
	Reference string // "" when the bureau gave none
}

func (LinkPhysicalCard) Kind() OpKind { return OpPersonaliseCard }
func (LinkPhysicalCard) Keys(*Keys)   {}

func (c LinkPhysicalCard) Apply(tx *Tx, _ *Env) Result[Card] {
	return result(tx.LinkPhysicalCard(c.CardID, c.Reference))
}

// LinkPhysicalCard personalises a PHYSICAL card and keeps the bureau's reference. A repeat is
// answered with the card as it is, unless it names another reference: the first confirmation
// (and its audit entry) stays the record of what the bureau made, and a different one is refused
// with CARD_ALREADY_LINKED.
func (tx *Tx) LinkPhysicalCard(cardID, reference string) (Card, *Refusal) {
	before, ok := tx.Card(cardID)
	if !ok {
		return Card{}, refuse(NotFound, "CARD_NOT_FOUND", "no such card")
	}
	if before.Type == CardPhysical && before.Personalised {
		if reference != "" && reference != before.BureauReference() {
			return Card{}, refuse(Conflict, "CARD_ALREADY_LINKED", "the card was linked with another bureau reference")
		}
		return before, nil
	}
	c, r := tx.PersonaliseCard(cardID)
	if r != nil || reference == "" {
		return c, r
	}
	c.setLabels(labelBureauReference, reference)
	tx.PutCard(c)
	return c, nil
}
