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

/*
 * Splits an ARN and checks each part's form: no white space or template
 * placeholder, a partition like aws or aws-cn, a region (when there is one)
 * as arn_check_region has it, an account (when there is one) of 12 digits.
 * `flag` names the option in the message ("--profile-arn").
 */
int arn_parse(const char *s, const char *flag, struct arn *out);

/*
 * ERR_OK when `region` looks like an AWS region (us-east-1, us-gov-west-1,
 * cn-north-1, eu-isoe-west-1); else ERR_USAGE with a message that starts
 * with `where` ("--region", "the region in --trust-anchor-arn").
 */
int arn_check_region(const char *region, const char *where);

/*
 * The ARNs of a CreateSession request, before anything is sent: each one
 * given and of its kind (a Roles Anywhere trust anchor and profile in one
 * region and account, an IAM role in the same partition), and --region,
 * when given (not NULL or ""), the region the ARNs are in. `ta` gets the
 * trust anchor's parts; its region is the signing region.
 */
int arn_check_request(const char *trust_anchor, const char *profile,
    const char *role, const char *region, struct arn *ta);

#endif
