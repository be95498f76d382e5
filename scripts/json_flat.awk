# json_flat.awk - flatten one JSON document into "PATH<TAB>VALUE" lines,
# so that shell scripts can read the CLI's --json output without jq or
# python (neither is guaranteed on a minimal Debian; awk is).  POSIX awk
# (mawk, gawk, busybox).
#
#   {"a":{"b":[10,"x"]},"c":null}   gives   a.b.0   10
#                                           a.b.1   x
#                                           a.b#    2
#                                           c       null
#
# Object members are joined with ".", array items are numbered from 0 and
# every array also gives "PATH#" with its length.  Strings are unquoted
# and unescaped; \n, \r, \t, \b and \f become a space and \uXXXX becomes
# "?" so that each value stays on one line (the CLI writes non-ASCII text
# as raw UTF-8, which passes through unchanged).  Numbers, true, false
# and null are printed as written.  The input may span lines.  Invalid
# JSON: a message on stderr and exit status 1.

{ doc = doc $0 "\n" }

END {
    s = doc
    n = length(s)
    pos = 1
    if (value("")) {
        ws()
        if (pos <= n)
            bad("trailing text")
    }
    exit failed ? 1 : 0
}

function bad(why) {
    printf "json_flat: invalid JSON at byte %d: %s\n", pos, why > "/dev/stderr"
    failed = 1
    return 0
}

function ws() {
    while (pos <= n && index(" \t\r\n", substr(s, pos, 1)) > 0)
        pos++
}

function emit(path, v) {
    printf "%s\t%s\n", path, v
}

function value(path,    c, start) {
    ws()
    c = substr(s, pos, 1)
    if (c == "{")
        return object(path)
    if (c == "[")
        return array(path)
    if (c == "\"") {
        if (!str())
            return 0
        emit(path, sval)
        return 1
    }
    start = pos
    while (pos <= n && index(",]}: \t\r\n\"{[", substr(s, pos, 1)) == 0)
        pos++
    if (pos == start)
        return bad("value expected")
    emit(path, substr(s, start, pos - start))
    return 1
}

function object(path,    key, c) {
    pos++
    ws()
    if (substr(s, pos, 1) == "}") {
        pos++
        return 1
    }
    for (;;) {
        ws()
        if (substr(s, pos, 1) != "\"" || !str())
            return bad("member name expected")
        key = sval
        ws()
        if (substr(s, pos, 1) != ":")
            return bad("':' expected")
        pos++
        if (!value(path == "" ? key : path "." key))
            return 0
        ws()
        c = substr(s, pos, 1)
        pos++
        if (c == "}")
            return 1
        if (c != ",")
            return bad("',' or '}' expected")
    }
}

function array(path,    i, c, p) {
    pos++
    i = 0
    p = path == "" ? "" : path "."
    ws()
    if (substr(s, pos, 1) == "]") {
        pos++
        emit(path "#", 0)
        return 1
    }
    for (;;) {
        if (!value(p i))
            return 0
        i++
        ws()
        c = substr(s, pos, 1)
        pos++
        if (c == "]") {
            emit(path "#", i)
            return 1
        }
        if (c != ",")
            return bad("',' or ']' expected")
    }
}

# Reads the string at pos (on its opening quote) into sval.
function str(    c, e, rest) {
    pos++
    sval = ""
    while (pos <= n) {
        rest = substr(s, pos)
        if (match(rest, /^[^"\\]+/)) {
            sval = sval substr(rest, 1, RLENGTH)
            pos += RLENGTH
            continue
        }
        c = substr(s, pos, 1)
        if (c == "\"") {
            pos++
            return 1
        }
        e = substr(s, pos + 1, 1)
        pos += 2
        if (e == "u") {
            sval = sval "?"
            pos += 4
        }
        else if (index("nrtbf", e) > 0)
            sval = sval " "
        else
            sval = sval e
    }
    return bad("unterminated string")
}
