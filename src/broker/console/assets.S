/* The web console's static files (index.html, console.js, console.css),
 * embedded at build time: no generator, the assembler reads them
 * (.incbin, paths from the source tree's root, where make runs).  Each
 * file is NAME[] with its length in NAME_size; console.c serves them. */
#define ASSET(name, file)                 \
	.section .rodata.vt_console, "a"; \
	.globl name;                      \
	.hidden name;                     \
	.type name, %object;              \
name:                                     \
	.incbin file;                     \
name##_end:                               \
	.byte 0;                          \
	.balign 8;                        \
	.globl name##_size;               \
	.hidden name##_size;              \
	.type name##_size, %object;       \
name##_size:                              \
	.quad name##_end - name

ASSET(vt_console_index_html, "src/broker/console/index.html")
ASSET(vt_console_js, "src/broker/console/console.js")
ASSET(vt_console_css, "src/broker/console/console.css")

/* No executable stack. */
	.section .note.GNU-stack, "", %progbits
