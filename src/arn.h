/* Amazon Resource Names: arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE */
#ifndef RASIGN_ARN_H
#define RASIGN_ARN_H

struct arn {
	char partition[32];
	char service[32];
	char region[32];
	char account[16];
	char resource[512];
};

/* `flag` names the option in the message ("--profile-arn"). */
int arn_parse(const char *s, const char *flag, struct arn *out);

#endif
