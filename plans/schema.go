package plans

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// The json parser validates replies against a small subset of JSON Schema, enough to pin the
// shape of a structured answer: type (a name or a list of names), properties, required, items,
// enum, additionalProperties (a boolean or a schema). title, description and $schema are
// accepted and ignored. Any other keyword is rejected by Validate rather than silently ignored,
// so a schema never promises more checking than happens.

var schemaKeywords = map[string]bool{"type": true, "properties": true, "required": true, "items": true,
	"enum": true, "additionalProperties": true, "title": true, "description": true, "$schema": true}

var schemaTypes = map[string]bool{"object": true, "array": true, "string": true, "number": true,
	"integer": true, "boolean": true, "null": true}

type schemaErr struct{ path, msg string }

// checkSchema reports what in a schema is outside the supported subset or malformed.
func checkSchema(s map[string]any, path string) []schemaErr {
	var out []schemaErr
	add := func(p, format string, args ...any) { out = append(out, schemaErr{p, fmt.Sprintf(format, args...)}) }
	for _, k := range sortedKeys(s) {
		if !schemaKeywords[k] {
			add(path+"."+k, "keyword %q is not supported (supported: type, properties, required, items, enum, additionalProperties)", k)
		}
	}
	switch t := s["type"].(type) {
	case nil:
	case string:
		if !schemaTypes[t] {
			add(path+".type", "type %q is not a JSON Schema type", t)
		}
	case []any:
		for _, x := range t {
			if name, ok := x.(string); !ok || !schemaTypes[name] {
				add(path+".type", "type list holds %v, not a JSON Schema type", x)
			}
		}
	default:
		add(path+".type", "type must be a type name or a list of them")
	}
	if p, ok := s["properties"]; ok {
		props, isMap := p.(map[string]any)
		if !isMap {
			add(path+".properties", "properties must be an object of schemas")
		}
		for _, name := range sortedKeys(props) {
			sub, ok := props[name].(map[string]any)
			if !ok {
				add(path+".properties."+name, "must be a schema object")
				continue
			}
			out = append(out, checkSchema(sub, path+".properties."+name)...)
		}
	}
	if r, ok := s["required"]; ok {
		list, isList := r.([]any)
		if !isList {
			add(path+".required", "required must be a list of property names")
		}
		for _, x := range list {
			if _, ok := x.(string); !ok {
				add(path+".required", "required holds %v, not a property name", x)
			}
		}
	}
	if it, ok := s["items"]; ok {
		sub, isMap := it.(map[string]any)
		if !isMap {
			add(path+".items", "items must be a schema object")
		} else {
			out = append(out, checkSchema(sub, path+".items")...)
		}
	}
	if e, ok := s["enum"]; ok {
		if list, isList := e.([]any); !isList || len(list) == 0 {
			add(path+".enum", "enum must be a non-empty list")
		}
	}
	switch ap := s["additionalProperties"].(type) {
	case nil, bool:
	case map[string]any:
		out = append(out, checkSchema(ap, path+".additionalProperties")...)
	default:
		add(path+".additionalProperties", "additionalProperties must be a boolean or a schema")
	}
	return out
}

// matchSchema checks a decoded JSON value (numbers as json.Number) against a schema of the
// supported subset and returns the first mismatch.
func matchSchema(s map[string]any, v any, path string) error {
	if path == "" {
		path = "$"
	}
	if t, ok := s["type"]; ok {
		var names []string
		switch t := t.(type) {
		case string:
			names = []string{t}
		case []any:
			for _, x := range t {
				if n, ok := x.(string); ok {
					names = append(names, n)
				}
			}
		}
		matched := false
		for _, n := range names {
			matched = matched || hasType(v, n)
		}
		if !matched {
			return fmt.Errorf("%s is %s, want %s", path, jsonTypeName(v), strings.Join(names, " or "))
		}
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, x := range e {
			found = found || jsonEqual(x, v)
		}
		if !found {
			return fmt.Errorf("%s is not one of the allowed values", path)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if name, ok := r.(string); ok {
					if _, present := x[name]; !present {
						return fmt.Errorf("%s lacks required property %q", path, name)
					}
				}
			}
		}
		for _, k := range sortedKeys(x) {
			if sub, ok := props[k].(map[string]any); ok {
				if err := matchSchema(sub, x[k], path+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s has property %q, which the schema does not allow", path, k)
				}
			case map[string]any:
				if err := matchSchema(ap, x[k], path+"."+k); err != nil {
					return err
				}
			}
		}
	case []any:
		if sub, ok := s["items"].(map[string]any); ok {
			for i, it := range x {
				if err := matchSchema(sub, it, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func hasType(v any, name string) bool {
	switch x := v.(type) {
	case map[string]any:
		return name == "object"
	case []any:
		return name == "array"
	case string:
		return name == "string"
	case bool:
		return name == "boolean"
	case nil:
		return name == "null"
	case json.Number:
		if name == "number" {
			return true
		}
		if name == "integer" {
			r, ok := ratOf(string(x))
			return ok && r.IsInt()
		}
	case float64:
		return name == "number" || (name == "integer" && x == float64(int64(x)))
	case int, int64, uint64:
		return name == "number" || name == "integer"
	}
	return false
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		return "a number"
	}
}

// jsonEqual compares two decoded JSON values, numbers by value.
func jsonEqual(a, b any) bool {
	an, aNum := numString(a)
	bn, bNum := numString(b)
	if aNum || bNum {
		if !aNum || !bNum {
			return false
		}
		ar, ok1 := ratOf(an)
		br, ok2 := ratOf(bn)
		return ok1 && ok2 && ar.Cmp(br) == 0
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			if yv, ok := y[k]; !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func numString(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case float64, int, int64, uint64:
		return fmt.Sprint(x), true
	}
	return "", false
}

// maxExponent bounds the exponent of numbers turned into exact rationals; "1e999999999" would
// otherwise cost gigabytes.
const maxExponent = 400

// ratOf parses a decimal number exactly, refusing absurd exponents.
func ratOf(s string) (*big.Rat, bool) {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp := strings.TrimLeft(s[i+1:], "+-")
		exp = strings.TrimLeft(exp, "0")
		if len(exp) > 3 {
			return nil, false
		}
		var e int
		fmt.Sscan(exp, &e)
		if e > maxExponent {
			return nil, false
		}
	}
	if len(s) > 1000 {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}
