package deps

import (
	_ "github.com/dgraph-io/badger/v4"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/moov-io/iso8583"
	_ "github.com/moov-io/iso8583-connection"
	_ "github.com/shopspring/decimal"
	_ "github.com/valyala/fasthttp"
	_ "gopkg.in/yaml.v3"
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/prometheus/client_golang/prometheus"
)
