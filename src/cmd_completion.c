/*
 * rasign completion bash|zsh|fish: a completion script generated from the
 * option table that parsing and --help use (options_info) and from the
 * command table (cmd_info), so that a flag cannot exist without being
 * offered. The Go helper has the same subcommand (cobra's).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "err.h"
#include "log.h"
#include "options.h"

static const char usage[] =
"usage: rasign completion bash|zsh|fish\n"
"\n"
"Prints the completion script for the shell, for rasign and for its\n"
"other name aws_signing_helper. To try it in the running shell:\n"
"  bash:  source <(rasign completion bash)\n"
"  zsh:   source <(rasign completion zsh)\n"
"  fish:  rasign completion fish | source\n"
"The Debian package and 'make install' install them where each shell\n"
"looks.\n";

static const char *const names[] = { "rasign", "aws_signing_helper" };
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* The words of `values` other than "@file": fixed values and prefixes. */
static void
words(FILE *f, const char *values)
{
	const char *p = values;
	size_t n;
	bool first = true;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, " ");
		if (n > 0 && strncmp(p, "@file", n) != 0) {
			fprintf(f, "%s%.*s", first ? "" : " ", (int)n, p);
			first = false;
		}
		p += n + (p[n] == ' ');
	}
}

/*
 * Text inside single quotes: a summary may hold an apostrophe ("SDKs'").
 * fish takes \' there; a POSIX shell ends the quote and escapes it.
 */
static void
quoted(FILE *f, const char *text, bool fish_style)
{
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\'')
			fputs(fish_style ? "\\'" : "'\\''", f);
		else if (*p == '\\' && fish_style)
			fputs("\\\\", f);
		else
			fputc(*p, f);
	}
}

static bool
has_files(const char *values)
{
	return values != NULL && strstr(values, "@file") != NULL;
}

static bool
has_words(const char *values)
{
	return values != NULL && strcmp(values, "@file") != 0 &&
	    *values != '\0';
}

static void
command_list(FILE *f)
{
	const char *name;

	for (size_t i = 0; (name = cmd_info(i, NULL, NULL)) != NULL; i++)
		fprintf(f, "%s%s", i ? " " : "", name);
}

static void
bash(FILE *f)
{
	struct optinfo oi;
	const char *name;
	unsigned bit;

	fputs("# bash completion for rasign (rasign completion bash)\n"
	    "_rasign()\n{\n"
	    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} "
	    "prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	    "\tlocal cmd=${COMP_WORDS[1]} opts=\n"
	    "\t# pkcs11:, env: and the like: ':' must not split words.\n"
	    "\tif declare -F _get_comp_words_by_ref >/dev/null; then\n"
	    "\t\t_get_comp_words_by_ref -n : cur prev\n\tfi\n"
	    "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n"
	    "\t\tCOMPREPLY=($(compgen -W \"", f);
	command_list(f);
	fputs(" help --help\" -- \"$cur\"))\n\t\treturn\n\tfi\n"
	    "\tcase $cmd in\n"
	    "\thelp)\n\t\t[ \"$COMP_CWORD\" -eq 2 ] && "
	    "COMPREPLY=($(compgen -W \"", f);
	command_list(f);
	fputs("\" -- \"$cur\"))\n\t\treturn ;;\n"
	    "\tcompletion)\n\t\t[ \"$COMP_CWORD\" -eq 2 ] && "
	    "COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\"))\n"
	    "\t\treturn ;;\n\tesac\n"
	    "\tcase $prev in\n", f);
	/* The value of the option before the cursor. */
	for (size_t i = 0; options_info(i, &oi); i++) {
		if (!oi.value)
			continue;
		fprintf(f, "\t--%s)\n\t\tCOMPREPLY=(", oi.name);
		if (has_words(oi.values)) {
			fputs("$(compgen -W \"", f);
			words(f, oi.values);
			fputs("\" -- \"$cur\") ", f);
		}
		if (has_files(oi.values))
			fputs("$(compgen -f -- \"${cur#file:}\" | "
			    "sed \"s|^|${cur%%${cur#file:}}|\")", f);
		fputs(")\n", f);
		if (has_words(oi.values))
			fputs("\t\t[ \"${#COMPREPLY[@]}\" -eq 1 ] && "
			    "[[ ${COMPREPLY[0]} == *: ]] && "
			    "compopt -o nospace\n", f);
		if (has_files(oi.values))
			fputs("\t\tcompopt -o filenames 2>/dev/null\n", f);
		fputs("\t\t__ltrim_colon_completions \"$cur\" 2>/dev/null\n"
		    "\t\treturn ;;\n", f);
	}
	fputs("\tesac\n\tcase $cmd in\n", f);
	for (size_t c = 0; (name = cmd_info(c, &bit, NULL)) != NULL; c++) {
		if (strcmp(name, "completion") == 0)
			continue;	/* its shell, above */
		fprintf(f, "\t%s)\n\t\topts=\"", name);
		for (size_t i = 0; options_info(i, &oi); i++)
			if (oi.cmds & bit)
				fprintf(f, "--%s ", oi.name);
		fputs("--help\" ;;\n", f);
	}
	fputs("\tesac\n"
	    "\tCOMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n}\n", f);
	fputs("complete -F _rasign", f);
	for (size_t i = 0; i < NNAMES; i++)
		fprintf(f, " %s", names[i]);
	fputs("\n", f);
}

/* zsh's _arguments wants ':' and ']' and '\' quoted in descriptions. */
static void
zsh_action(FILE *f, const struct optinfo *oi)
{
	if (!oi->value)
		return;
	fprintf(f, ":%s:", oi->name);
	if (has_files(oi->values) && has_words(oi->values)) {
		fputs("_alternative 'files\\:file\\:_files' 'values\\:value\\:((", f);
		words(f, oi->values);
		fputs("))'", f);
	} else if (has_files(oi->values)) {
		fputs("_files", f);
	} else if (has_words(oi->values)) {
		fputs("(", f);
		words(f, oi->values);
		fputs(")", f);
	} else {
		fputs(" ", f);
	}
}

static void
zsh(FILE *f)
{
	struct optinfo oi;
	const char *name, *summary;
	unsigned bit;

	fputs("#compdef", f);
	for (size_t i = 0; i < NNAMES; i++)
		fprintf(f, " %s", names[i]);
	fputs("\n# zsh completion for rasign (rasign completion zsh)\n"
	    "_rasign()\n{\n\tlocal -a cmds\n\tcmds=(\n", f);
	for (size_t c = 0; (name = cmd_info(c, NULL, &summary)) != NULL;
	    c++) {
		fprintf(f, "\t\t'%s:", name);
		quoted(f, summary, false);
		fputs("'\n", f);
	}
	fputs("\t\t'help:show the options of a command'\n\t)\n"
	    "\tif (( CURRENT == 2 )); then\n"
	    "\t\t_describe -t commands 'rasign command' cmds\n"
	    "\t\treturn\n\tfi\n"
	    "\tcase $words[2] in\n"
	    "\thelp) _describe -t commands 'rasign command' cmds ;;\n"
	    "\tcompletion) _values shell bash zsh fish ;;\n", f);
	for (size_t c = 0; (name = cmd_info(c, &bit, NULL)) != NULL; c++) {
		if (strcmp(name, "completion") == 0)
			continue;	/* its shell, above */
		fprintf(f, "\t%s)\n\t\t_arguments -s \\\n", name);
		for (size_t i = 0; options_info(i, &oi); i++) {
			if (!(oi.cmds & bit))
				continue;
			fprintf(f, "\t\t\t'--%s[%s]", oi.name, oi.name);
			zsh_action(f, &oi);
			fputs("' \\\n", f);
		}
		fputs("\t\t\t'--help[print the usage]'", f);
		if (strcmp(name, "exec") == 0)
			fputs(" \\\n\t\t\t'*::command:_normal'", f);
		fputs(" ;;\n", f);
	}
	fputs("\tesac\n}\n"
	    "if [ \"$funcstack[1]\" = \"_rasign\" ]; then\n"
	    "\t_rasign \"$@\"\nelse\n\tcompdef _rasign", f);
	for (size_t i = 0; i < NNAMES; i++)
		fprintf(f, " %s", names[i]);
	fputs("\nfi\n", f);
}

static void
fish(FILE *f)
{
	struct optinfo oi;
	const char *name, *summary;
	unsigned bit;

	fputs("# fish completion for rasign (rasign completion fish)\n", f);
	for (size_t n = 0; n < NNAMES; n++) {
		fprintf(f, "complete -c %s -f\n", names[n]);
		for (size_t c = 0; (name = cmd_info(c, NULL, &summary)) != NULL;
		    c++)
		{
			fprintf(f, "complete -c %s -n __fish_use_subcommand "
			    "-a %s -d '", names[n], name);
			quoted(f, summary, true);
			fputs("'\n", f);
		}
		fprintf(f, "complete -c %s -n __fish_use_subcommand -a help "
		    "-d 'show the options of a command'\n"
		    "complete -c %s -n '__fish_seen_subcommand_from completion' "
		    "-a 'bash zsh fish'\n", names[n], names[n]);
		fprintf(f, "complete -c %s -n '__fish_seen_subcommand_from "
		    "help' -a '", names[n]);
		command_list(f);
		fputs("'\n", f);
		for (size_t i = 0; options_info(i, &oi); i++) {
			fprintf(f, "complete -c %s -n '__fish_seen_subcommand_from",
			    names[n]);
			for (size_t c = 0; (name = cmd_info(c, &bit, NULL)) !=
			    NULL; c++)
				if (oi.cmds & bit)
					fprintf(f, " %s", name);
			fprintf(f, "' -l %s", oi.name);
			/* -x: a value, not a file name; -r -F: a file. */
			if (oi.value)
				fputs(has_files(oi.values) ? " -r -F" : " -x", f);
			if (has_words(oi.values)) {
				fputs(" -a '", f);
				words(f, oi.values);
				fputs("'", f);
			}
			fputs("\n", f);
		}
	}
}

int
cmd_completion(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (argc != 2) {
		log_error("completion takes one shell: bash, zsh or fish; see "
		    "'rasign completion --help'");
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "bash") == 0)
		bash(stdout);
	else if (strcmp(argv[1], "zsh") == 0)
		zsh(stdout);
	else if (strcmp(argv[1], "fish") == 0)
		fish(stdout);
	else {
		/* Not echoed: a mistyped word may be anything. */
		log_error("completion knows bash, zsh and fish; see 'rasign "
		    "completion --help'");
		return EXIT_USAGE;
	}
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_INTERNAL;
}
