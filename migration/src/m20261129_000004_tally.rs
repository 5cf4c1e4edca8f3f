//! Maintained aggregates of the tally (updated in the submission's transaction), and the
//! survey's estimator setting.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

fn sums(table: &mut TableCreateStatement) {
    for c in ["n", "sx", "sy", "sxx", "syy", "sxy", "n_ratio"] {
        table.col(big_integer(t(c)).default(0));
    }
    table.col(double(t("ratio")).default(0.0));
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(t("survey"))
                    .add_column(string_len(t("estimator"), 16).default("pooled"))
                    .to_owned(),
            )
            .await?;

        let mut cell = Table::create()
            .table(t("tally_cell"))
            .col(integer(t("survey_id")))
            .col(string_len(t("scope"), 24))
            .col(string_len(t("grp"), 16))
            .col(integer(t("area_id")))
            .col(integer(t("school_id")))
            .col(small_integer(t("band")))
            .col(boolean(t("flagged")))
            .col(big_integer(t("too_fast")).default(0))
            .col(big_integer(t("straight_lined")).default(0))
            .to_owned();
        sums(&mut cell);
        cell.primary_key(
            Index::create()
                .col(t("survey_id"))
                .col(t("scope"))
                .col(t("grp"))
                .col(t("area_id"))
                .col(t("school_id"))
                .col(t("band"))
                .col(t("flagged")),
        );
        manager.create_table(cell).await?;

        manager
            .create_table(
                Table::create()
                    .table(t("tally_item"))
                    .col(integer(t("survey_id")))
                    .col(string_len(t("grp"), 16))
                    .col(integer(t("area_id")))
                    .col(integer(t("school_id")))
                    .col(small_integer(t("band")))
                    .col(boolean(t("flagged")))
                    .col(string_len(t("item_id"), 32))
                    .col(string_len(t("option_code"), 8))
                    .col(big_integer(t("answers")).default(0))
                    .primary_key(
                        Index::create()
                            .col(t("survey_id"))
                            .col(t("grp"))
                            .col(t("area_id"))
                            .col(t("school_id"))
                            .col(t("band"))
                            .col(t("flagged"))
                            .col(t("item_id"))
                            .col(t("option_code")),
                    )
                    .to_owned(),
            )
            .await?;

        let mut hour = Table::create()
            .table(t("tally_hour"))
            .col(integer(t("survey_id")))
            .col(timestamp_with_time_zone(t("hour")))
            .col(boolean(t("flagged")))
            .to_owned();
        sums(&mut hour);
        hour.primary_key(
            Index::create()
                .col(t("survey_id"))
                .col(t("hour"))
                .col(t("flagged")),
        );
        manager.create_table(hour).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["tally_hour", "tally_item", "tally_cell"] {
            manager
                .drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(t("survey"))
                    .drop_column(t("estimator"))
                    .to_owned(),
            )
            .await
    }
}
