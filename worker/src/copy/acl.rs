//! ACL grants on copies. S3 never copies ACLs: a job on a bucket that still uses them
//! (`copy_acls`) reads the source version's grants and passes them on the copy, the source
//! owner's own grant included (grant headers replace the default ACL). A copy into another
//! bucket also carries the canned ACL `bucket-owner-full-control`.

use aws_sdk_s3::types::{Grant, ObjectCannedAcl, Permission};
use thaw_common::aws::AwsError;
use thaw_common::keys::KeyLine;

use super::source_version;
use crate::metrics::Metrics;
use crate::object::ObjectInfo;
use crate::Ctx;

/// An object's ACL grants as `x-amz-grant-*` header values, one per permission: S3 never
/// copies ACLs, so a copy passes them explicitly, the source owner's own grant included (grant
/// headers replace the default ACL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// `x-amz-grant-full-control`.
    pub full_control: Option<String>,
    /// `x-amz-grant-read`.
    pub read: Option<String>,
    /// `x-amz-grant-read-acp`.
    pub read_acp: Option<String>,
    /// `x-amz-grant-write-acp`.
    pub write_acp: Option<String>,
}

/// The header values for a list of grants (`id="..."`, `uri="..."` or `emailAddress="..."`,
/// comma-separated per permission). WRITE means nothing on an object and is left out.
pub fn grants_from(grants: &[Grant]) -> Grants {
    let mut g = Grants::default();
    for grant in grants {
        let Some(grantee) = grant.grantee() else {
            continue;
        };
        let who = match (grantee.id(), grantee.uri(), grantee.email_address()) {
            (Some(id), _, _) => format!("id=\"{id}\""),
            (None, Some(uri), _) => format!("uri=\"{uri}\""),
            (None, None, Some(email)) => format!("emailAddress=\"{email}\""),
            _ => continue,
        };
        let slot = match grant.permission() {
            Some(Permission::FullControl) => &mut g.full_control,
            Some(Permission::Read) => &mut g.read,
            Some(Permission::ReadAcp) => &mut g.read_acp,
            Some(Permission::WriteAcp) => &mut g.write_acp,
            _ => continue,
        };
        match slot {
            Some(list) => {
                list.push_str(", ");
                list.push_str(&who);
            }
            None => *slot = Some(who),
        }
    }
    g
}

/// The canned ACL of a copy into another bucket than the source: `bucket-owner-full-control`,
/// so the destination's owner (perhaps another account) owns the copy where its bucket prefers
/// it, or at least controls it. Buckets with ACLs disabled accept exactly this ACL.
pub fn other_bucket_acl(ctx: &Ctx, to_bucket: &str) -> Option<ObjectCannedAcl> {
    (to_bucket != ctx.spec.bucket).then_some(ObjectCannedAcl::BucketOwnerFullControl)
}

/// The grants of the source object (the version copied), when the job carries ACLs.
pub async fn object_grants(
    ctx: &Ctx,
    entry: &KeyLine,
    obj: &ObjectInfo,
) -> Result<Grants, AwsError> {
    if !ctx.spec.copy_acls {
        return Ok(Grants::default());
    }
    Metrics::inc(&ctx.metrics.s3_get_acl);
    let out = ctx
        .s3
        .get_object_acl()
        .bucket(&ctx.spec.bucket)
        .key(&entry.key)
        .set_version_id(source_version(ctx, entry, obj).map(str::to_owned))
        .set_request_payer(ctx.request_payer())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObjectAcl", &e))?;
    Ok(grants_from(out.grants()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_become_headers() {
        use aws_sdk_s3::types::{Grantee, Type};
        let grant = |grantee: Grantee, p: Permission| {
            Grant::builder().grantee(grantee).permission(p).build()
        };
        let owner = Grantee::builder()
            .r#type(Type::CanonicalUser)
            .id("abc123")
            .build()
            .expect("grantee");
        let all_users = Grantee::builder()
            .r#type(Type::Group)
            .uri("http://acs.amazonaws.com/groups/global/AllUsers")
            .build()
            .expect("grantee");
        let other = Grantee::builder()
            .r#type(Type::CanonicalUser)
            .id("def456")
            .build()
            .expect("grantee");
        let g = grants_from(&[
            grant(owner, Permission::FullControl),
            grant(all_users, Permission::Read),
            grant(other.clone(), Permission::Read),
            grant(other, Permission::Write),
        ]);
        assert_eq!(g.full_control.as_deref(), Some("id=\"abc123\""));
        assert_eq!(
            g.read.as_deref(),
            Some("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\", id=\"def456\"")
        );
        assert_eq!((g.read_acp, g.write_acp), (None, None));
        assert_eq!(grants_from(&[]), Grants::default());
    }
}
