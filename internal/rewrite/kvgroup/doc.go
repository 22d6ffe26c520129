// Package kvgroup reads and writes the KVGroup format: the text that request rewrite
// plugins (and other plugin points of the same family) read on stdin and write on stdout.
// triggerflow runs such plugins as executables; this package is their codec.
//
// # The format
//
// A document is an optional header line naming the version, then a sequence of entries.
// An entry is either a pair or a group:
//
//	# KVGROUP-V1.0
//	"" "" = {
//	  "changed" = "true"
//	  "retval" = "0"            # zero is success
//	  "resource" "" = {
//	    "itemType" = "groupID"
//	    "operation" = "GRUA"
//	  }
//	  "resource" "3G34GB22672CDCD574BC4C4295D5983F" = {
//	    "remove" = "true"
//	  }
//	}
//
// A pair is `"key" = "value"`. A group is `"key" "name" = { entries }`: the second quoted
// token is the group's name (often ""), and groups nest to any depth (this package caps
// it at [MaxDepth]). Keys may repeat — plugin output lists every resource under the key
// "resource" — so a [Group] is an ordered list of entries, never a map. Tokens are separated by any
// whitespace, and none is needed around `=`, `{`, `}` and `;`: a document that lost its
// line breaks (all on one line) still parses, as long as it has no comments.
//
// # Parsing rules
//
//   - Header: if the first thing in the input (after an optional UTF-8 byte order mark and
//     whitespace) is the comment `# KVGROUP-V1.0` or `# KVGROUP-V1.1`, the version is
//     recorded in [Document.Version]. Only the header token is consumed: the rest of that
//     line is parsed as content, so the one-line form `# KVGROUP-V1.1 "" "" = { … }` works.
//     A header naming another version, such as KVGROUP-V2.0, is a [SyntaxError].
//   - Comments: any other `#` outside a quoted string starts a comment that runs to the end
//     of the line.
//   - Quoted strings: `"…"` may span lines and may hold any valid UTF-8, control characters
//     included. Escapes: `\"`, `\\`, `\n`, `\t`, `\r`, and `\xNN` (two hex digits, value
//     below 0x80). Any other backslash is kept literally, together with the character after
//     it, so a hand-written Windows path such as "C:\Program Files" survives (but "C:\new"
//     holds a newline); `\x` not followed by two hex digits below 0x80 is likewise literal.
//     The plugin documentation shows only plain quoted strings: these escape rules are this
//     package's choice, made so that every string can be written and read back.
//   - Bare words: for tolerance, a run of characters other than whitespace and `"={};#` is
//     read as a string, with no escape processing (`retval = 0` is `"retval" = "0"`).
//   - `;` after a pair or a group (or anywhere an entry may start) is ignored.
//   - `key = value` is a pair; `key name = { … }` is a group; `key = { … }` is a group
//     with Name "". The top-level wrapper `"" "" = { … }` of plugin input and output is kept
//     as it is: one entry with Key "", Name "" and a Group; it is not unwrapped.
//   - The input must be valid UTF-8 everywhere, comments included.
//
// Errors are [*SyntaxError] values carrying the 1-based line and column (in bytes) where
// the problem was found, with a message saying what was expected and what was found.
// Parsing is a single iterative pass: linear in the input, no recursion.
//
// # Canonical output
//
// [Document.Write] writes the header line if Version is set, then one entry per line,
// nested entries indented by two spaces per level, an empty group as `{}`, and every key,
// name and value double-quoted. Inside quotes it escapes `"` and `\` with a backslash,
// newline, tab and carriage return as `\n`, `\t`, `\r`, and the other control characters
// (U+0000–U+001F, U+007F) as `\xNN` with lowercase hex; everything else, non-ASCII UTF-8
// included, is written as is. For every input x that parses, Parse(Marshal(Parse(x)))
// deep-equals Parse(x).
package kvgroup
