#include "schema/netrule.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "schema/text.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool parse_port(const char *s, size_t len, uint16_t *port, char *why, size_t whylen)
{
    unsigned value = 0;
    bool digits = len > 0 && len <= 5 && s[0] != '0';
    for (size_t i = 0; digits && i < len; i++) {
        digits = is_digit(s[i]);
        value = value * 10 + (unsigned)(s[i] - '0');
    }
    if (!digits || value > 65535) {
        snprintf(why, whylen, "invalid port: \"%.*s\" is not a number from 1 to 65535",
                 (int)(len > 8 ? 8 : len), s);
        return false;
    }
    *port = (uint16_t)value;
    return true;
}

static bool is_address(int family, const char *s, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char addr[sizeof(struct in6_addr)];
    if (len >= sizeof text)
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    return inet_pton(family, text, addr) == 1;
}

static bool check_ipv6(const char *s, size_t len, char *why, size_t whylen)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!(is_digit(c) || (c >= 'a' && c <= 'f') || c == ':' || c == '.')) {
            char shown[8];
            describe_byte((unsigned char)c, shown, sizeof shown);
            snprintf(why, whylen, "invalid host: IPv6 address with character %s", shown);
            return false;
        }
    }
    if (!is_address(AF_INET6, s, len)) {
        snprintf(why, whylen, "invalid host: not an IPv6 address");
        return false;
    }
    return true;
}

/* A DNS name of lowercase labels, or an IPv4 address when its last label is
 * numeric (a top-level domain never is). */
static bool check_hostname(const char *s, size_t len, bool wildcard, char *why, size_t whylen)
{
    if (len == 0 || len > BRIG_HOST_MAX) {
        snprintf(why, whylen, "invalid host: %zu bytes (from 1 to %d)", len, BRIG_HOST_MAX);
        return false;
    }
    size_t labels = 0, start = 0;
    bool last_numeric = false;
    while (start <= len) {
        const char *dot = memchr(s + start, '.', len - start);
        size_t end = dot ? (size_t)(dot - s) : len;
        size_t n = end - start;
        if (n == 0 || n > 63) {
            snprintf(why, whylen, "invalid host: label of %zu bytes (from 1 to 63)", n);
            return false;
        }
        last_numeric = true;
        for (size_t i = start; i < end; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-')) {
                snprintf(why, whylen, "invalid host: invalid character 0x%02x", (unsigned char)c);
                return false;
            }
            last_numeric = last_numeric && is_digit(c);
        }
        if (s[start] == '-' || s[end - 1] == '-') {
            snprintf(why, whylen, "invalid host: a label starts or ends with '-'");
            return false;
        }
        labels++;
        start = end + 1;
    }
    if (last_numeric && (wildcard || !is_address(AF_INET, s, len))) {
        snprintf(why, whylen,
                 wildcard ? "invalid wildcard: an IP address has no subdomains"
                          : "invalid host: not an IPv4 address");
        return false;
    }
    if (wildcard && labels < 2) {
        snprintf(why, whylen, "invalid wildcard: \"*.%.*s\" is too broad", (int)len, s);
        return false;
    }
    return true;
}

bool net_rule_parse(const char *s, size_t len, struct net_rule_parts *parts, char *why,
                    size_t whylen)
{
    memset(parts, 0, sizeof *parts);
    size_t host_end;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) {
            snprintf(why, whylen, "invalid host: '[' without ']'");
            return false;
        }
        host_end = (size_t)(close - s);
        parts->host_start = 1;
        parts->host_len = host_end - 1;
        if (!check_ipv6(s + 1, parts->host_len, why, whylen))
            return false;
        host_end++;
        if (host_end < len && s[host_end] != ':') {
            snprintf(why, whylen, "invalid host: text after ']'");
            return false;
        }
    } else {
        const char *colon = memrchr(s, ':', len);
        host_end = colon ? (size_t)(colon - s) : len;
        parts->wildcard = host_end >= 2 && s[0] == '*' && s[1] == '.';
        parts->host_start = parts->wildcard ? 2 : 0;
        parts->host_len = host_end - parts->host_start;
        if (!check_hostname(s + parts->host_start, parts->host_len, parts->wildcard, why, whylen))
            return false;
    }
    if (host_end < len)
        return parse_port(s + host_end + 1, len - host_end - 1, &parts->port, why, whylen);
    return true;
}

int net_rule_format(const struct brig_net_rule *rule, char *buf, size_t len)
{
    bool ipv6 = strchr(rule->host, ':') != NULL;
    char port[8] = "";
    if (rule->port)
        snprintf(port, sizeof port, ":%u", (unsigned)rule->port);
    int n = snprintf(buf, len, "%s%s%s%s%s", rule->wildcard ? "*." : "", ipv6 ? "[" : "",
                     rule->host, ipv6 ? "]" : "", port);
    return n < 0 || (size_t)n >= len ? -1 : n;
}
