//! Creating and checking the progress table itself.

use super::*;

impl ProgressTable {
    /// Fails with [`ProgressError::NoTable`] unless the table exists.
    pub async fn check_exists(&self) -> Result<()> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ResourceNotFoundException") => {
                Err(ProgressError::NoTable(self.table.clone()))
            }
            Err(e) => Err(AwsError::from_sdk("DescribeTable", &e).into()),
        }
    }

    /// Creates the table (on-demand billing) unless it exists; returns true when it was created.
    pub async fn create_if_missing(&self) -> Result<bool> {
        match self.check_exists().await {
            Ok(()) => return Ok(false),
            Err(ProgressError::NoTable(_)) => {}
            Err(e) => return Err(e),
        }
        let attr = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
        };
        let ks = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
        };
        let built = (|| {
            Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                attr(PK, ScalarAttributeType::S)?,
                attr(SK, ScalarAttributeType::N)?,
                ks(PK, KeyType::Hash)?,
                ks(SK, KeyType::Range)?,
            ))
        })()
        .map_err(|e| AwsError {
            operation: "CreateTable",
            code: "BuildError".into(),
            message: e.to_string(),
            status: None,
        })?;
        let res = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(built.0)
            .attribute_definitions(built.1)
            .key_schema(built.2)
            .key_schema(built.3)
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e) if is_code(&e, "ResourceInUseException") => return Ok(false),
            Err(e) => return Err(AwsError::from_sdk("CreateTable", &e).into()),
        }
        // Wait for ACTIVE (seconds on AWS, at once on emulators).
        for _ in 0..120 {
            let d = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeTable", &e))?;
            let active = d
                .table()
                .and_then(|t| t.table_status())
                .map(|st| st.as_str() == "ACTIVE")
                .unwrap_or(false);
            if active {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        Ok(true)
    }
}
