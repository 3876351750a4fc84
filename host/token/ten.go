package token

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Limits on the "ten" claim.
const (
	// MaxTenRegexp is the longest regular expression "ten" may hold (between
	// the slashes). Go's regexp is linear-time, so the cap bounds memory and
	// compile time, not matching.
	MaxTenRegexp = 256
	// MaxTenNames is the most names a comma list may hold.
	MaxTenNames = 64
)

// containerName matches container names, as the API does.
var containerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Containers is a parsed "ten" claim: which containers a token may act on.
// The zero value allows every container.
type Containers struct {
	names []string       // literal or comma list
	re    *regexp.Regexp // /regex/
}

// ParseContainers parses and validates a "ten" claim: "" (any container), a
// container name, a comma list "a,b", or a regular expression between
// slashes, "/^wt-x-[0-9]$/". A regular expression matches anywhere in the
// name unless it is anchored with ^ and $, as in the original platform.
// Errors wrap ErrMalformed.
func ParseContainers(ten string) (Containers, error) {
	switch {
	case ten == "":
		return Containers{}, nil
	case isRegexp(ten):
		re, err := compileTen(ten)
		if err != nil {
			return Containers{}, err
		}
		return Containers{re: re}, nil
	}
	parts := strings.Split(ten, ",")
	if len(parts) > MaxTenNames {
		return Containers{}, fmt.Errorf("%w: ten: a list may name at most %d containers", ErrMalformed, MaxTenNames)
	}
	names := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if !containerName.MatchString(p) {
			return Containers{}, fmt.Errorf("%w: ten: %q is not a container name, a comma list of names, or /regex/", ErrMalformed, p)
		}
		names = append(names, p)
	}
	return Containers{names: names}, nil
}

func isRegexp(ten string) bool {
	return len(ten) >= 2 && ten[0] == '/' && ten[len(ten)-1] == '/'
}

// regexps caches compiled "ten" expressions: the same few expressions are
// seen on every request of a tenant. Bounded; past the bound expressions are
// compiled each time.
var regexps struct {
	sync.RWMutex
	m map[string]*regexp.Regexp
}

const maxCachedRegexps = 1024

func compileTen(ten string) (*regexp.Regexp, error) {
	regexps.RLock()
	re, ok := regexps.m[ten]
	regexps.RUnlock()
	if ok {
		return re, nil
	}
	expr := ten[1 : len(ten)-1]
	if len(expr) == 0 {
		return nil, fmt.Errorf("%w: ten: empty regular expression", ErrMalformed)
	}
	if len(expr) > MaxTenRegexp {
		return nil, fmt.Errorf("%w: ten: regular expression longer than %d characters", ErrMalformed, MaxTenRegexp)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		msg := err.Error()
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, fmt.Errorf("%w: ten: invalid regular expression: %s", ErrMalformed, msg)
	}
	regexps.Lock()
	if regexps.m == nil {
		regexps.m = map[string]*regexp.Regexp{}
	}
	if len(regexps.m) < maxCachedRegexps {
		regexps.m[ten] = re
	}
	regexps.Unlock()
	return re, nil
}

// Any reports whether every container is allowed.
func (c Containers) Any() bool { return c.names == nil && c.re == nil }

// Single returns the one container allowed, when exactly one is named
// (a name, or a list of one): not a regular expression, not every container.
func (c Containers) Single() (string, bool) {
	if c.re == nil && len(c.names) == 1 {
		return c.names[0], true
	}
	return "", false
}

// Allows reports whether container is allowed.
func (c Containers) Allows(container string) bool {
	switch {
	case c.re != nil:
		return c.re.MatchString(container)
	case c.names == nil:
		return true
	}
	for _, n := range c.names {
		if n == container {
			return true
		}
	}
	return false
}

// narrowerTen checks that child (already parsed) is within parent. A list
// is within any parent that allows each of its names; a regular expression
// is within a parent only if the parent allows everything or has the very
// same expression (containment of regular languages is not checked).
func narrowerTen(parentTen string, parent Containers, childTen string, child Containers) error {
	if parent.Any() {
		return nil
	}
	if child.Any() {
		return fmt.Errorf("%w: ten: the parent token is restricted to some containers; the child must be too", ErrTooWide)
	}
	if child.re != nil {
		if childTen == parentTen {
			return nil
		}
		return fmt.Errorf("%w: ten: a regular expression is narrower than the parent's only when it is the same expression; list the containers instead", ErrTooWide)
	}
	for _, n := range child.names {
		if !parent.Allows(n) {
			return fmt.Errorf("%w: ten: container %q is outside the parent token's containers", ErrTooWide, n)
		}
	}
	return nil
}
