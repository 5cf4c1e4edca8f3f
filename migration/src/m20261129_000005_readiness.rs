//! Readiness: each county's school resource figures and its checklist of the other indicators.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn t(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut school = Table::create()
            .table(t("readiness_school"))
            .col(pk_auto(t("id")))
            .col(integer(t("county_id")))
            .col(integer(t("position")))
            .col(string_len(t("name"), 100))
            .col(string_len(t("kind"), 16))
            .to_owned();
        for c in [
            "pupils",
            "primary_pupils",
            "junior_pupils",
            "qualified_teachers",
            "backbone_teachers",
            "pe_arts_teachers",
            "teaching_space_m2",
            "sports_space_m2",
            "equipment_value_yuan",
            "multimedia_rooms",
        ] {
            school.col(double(t(c)));
        }
        school.foreign_key(
            ForeignKey::create()
                .from(t("readiness_school"), t("county_id"))
                .to(t("county"), t("id"))
                .on_delete(ForeignKeyAction::Cascade),
        );
        manager.create_table(school).await?;
        manager
            .create_table(
                Table::create()
                    .table(t("readiness_check"))
                    .col(integer(t("county_id")))
                    .col(integer(t("year")))
                    .col(string_len(t("code"), 8))
                    .col(string_len(t("status"), 16))
                    .col(text(t("note")))
                    .col(text(t("attachments")))
                    .col(text(t("figures")))
                    .col(timestamp_with_time_zone(t("updated_at")))
                    .primary_key(
                        Index::create()
                            .col(t("county_id"))
                            .col(t("year"))
                            .col(t("code")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(t("readiness_check"), t("county_id"))
                            .to(t("county"), t("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["readiness_check", "readiness_school"] {
            manager
                .drop_table(Table::drop().table(t(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
